using Feather.Server.Environments;

namespace Feather.Server.Tests.Unit;

/// <summary>The pipe a build context goes through on its way to the engine: bounded, and failures name their cause.</summary>
public class BuildContextStreamTests
{
    [Fact]
    public async Task The_writer_is_never_more_than_the_pipe_ahead_of_the_reader()
    {
        long written = 0, read = 0, mostAhead = 0;
        var chunk = new byte[64 * 1024];
        await DockerImageBuilder.StreamContextAsync(
            async (stream, ct) =>
            {
                for (var i = 0; i < 1024; i++) // 64 MiB
                {
                    await stream.WriteAsync(chunk, ct);
                    Interlocked.Add(ref written, chunk.Length);
                }
            },
            async stream =>
            {
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0)
                {
                    read += n;
                    mostAhead = Math.Max(mostAhead, Interlocked.Read(ref written) - read);
                    if (read % (4 * 1024 * 1024) < n) await Task.Delay(20); // a slow engine now and then
                }
            },
            default);
        Assert.Equal(64L * 1024 * 1024, read);
        Assert.True(mostAhead <= DockerImageBuilder.ContextPipeBytes + 2 * chunk.Length,
            $"the writer was {mostAhead} bytes ahead of the reader; the pipe holds {DockerImageBuilder.ContextPipeBytes}");
    }

    [Fact]
    public async Task A_writer_failure_is_reported_rather_than_the_readers_cut_stream()
    {
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => DockerImageBuilder.StreamContextAsync(
            async (stream, ct) =>
            {
                await stream.WriteAsync(new byte[3 * 1024 * 1024], ct);
                throw new FileNotFoundException("blob abc is not stored");
            },
            async stream =>
            {
                var buffer = new byte[64 * 1024];
                while (await stream.ReadAsync(buffer) > 0) { }
            },
            default));
        Assert.Equal("blob abc is not stored", e.Message);
    }

    [Fact]
    public async Task A_reader_that_gives_up_stops_the_writer_and_its_error_is_reported()
    {
        var stopped = false;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => DockerImageBuilder.StreamContextAsync(
            async (stream, ct) =>
            {
                try
                {
                    while (true) await stream.WriteAsync(new byte[64 * 1024], ct);
                }
                catch (OperationCanceledException)
                {
                    stopped = true;
                    throw;
                }
            },
            async stream =>
            {
                await stream.ReadAtLeastAsync(new byte[1024], 1);
                throw new InvalidOperationException("the engine refused the build");
            },
            default)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("the engine refused the build", e.Message);
        Assert.True(stopped, "the writer went on after the reader gave up");
    }
}

using System.Net;
using System.Net.Sockets;

namespace Feather.Cli.Tests;

/// <summary>
/// `feather publish` cut mid-file and run again sends only the bytes the server does not have: the CLI
/// talks to the real server through a loopback TCP proxy that counts the bytes going to the server
/// (and, the first time, cuts every connection once a limit has passed).
/// </summary>
[Collection(RealServerCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class ResumedPublishTests(RealServer server)
{
    private const int WeightsSize = 8 * 1024 * 1024;

    [Fact]
    public async Task A_publish_cut_mid_file_resumes_without_resending_what_arrived()
    {
        using var model = new TempDir();
        var source = File.ReadAllText(Path.Combine(RealServer.RepoRoot, "tests", "models", "contract", "model.py"));
        model.File("model.py", source.Replace("ftr.build(name=\"contract\",",
            "ftr.build(name=\"contract-resume\", file_bundle=ftr.bundle([\"model.py\"], [\"weights.bin\"]),"));
        var weights = new byte[WeightsSize];
        new Random(11).NextBytes(weights);
        await File.WriteAllBytesAsync(Path.Combine(model.Path, "weights.bin"), weights);
        var target = new Uri(server.Url);
        using var cache = new TempDir(); // the CLI's cache of large files' hashes, shared by the three publishes

        await using (var cutting = new CountingProxy(target.Port, cutAfter: 6 * 1024 * 1024))
        {
            using var cli = server.Cli();
            cli.Environment["FEATHER_URL"] = cutting.Url;
            cli.Environment["XDG_CACHE_HOME"] = cache.Path;
            var cut = await cli.RunAsync(TimeSpan.FromMinutes(5), "publish", model.Path);
            Assert.True(cut.ExitCode == (int)ExitCodes.UploadFailed, cut.Out + cut.Err);
            Assert.Contains("weights.bin", cut.Err);
            Assert.True(cutting.BytesToServer > 6 * 1024 * 1024);
        }

        await using var counting = new CountingProxy(target.Port, cutAfter: long.MaxValue);
        using (var cli = server.Cli())
        {
            cli.Environment["FEATHER_URL"] = counting.Url;
            cli.Environment["XDG_CACHE_HOME"] = cache.Path;
            var resumed = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", model.Path);
            Assert.True(resumed.ExitCode == 0, resumed.Out + resumed.Err);
            Assert.Matches(@"resuming weights\.bin at \d+(\.\d+)? MiB of 8\.0 MiB", resumed.Out + resumed.Err);
            Assert.Contains("published admin/contract-resume version 1", resumed.Out);
        }
        // what arrived the first time (about 6 MiB) was not sent again
        Assert.InRange(counting.BytesToServer, 1, 3 * 1024 * 1024);

        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights));
        Assert.Equal(weights, await File.ReadAllBytesAsync(Path.Combine(server.DataDir, "blobs", sha[..2], sha[2..])));

        // the CLI never hashed weights.bin itself (the server named it by what arrived); it kept the server's answer,
        // so a version that changes only code names the weights by their hash and sends none of their bytes
        File.AppendAllText(Path.Combine(model.Path, "model.py"), "# a code-only change\n");
        using (var cli = server.Cli())
        {
            cli.Environment["XDG_CACHE_HOME"] = cache.Path;
            var codeOnly = await cli.RunAsync(TimeSpan.FromMinutes(5), "publish", model.Path);
            Assert.True(codeOnly.ExitCode == 0, codeOnly.Out + codeOnly.Err);
            Assert.Contains("weights.bin: already stored, skipped", codeOnly.Out + codeOnly.Err);
            Assert.Contains(sha[..12], codeOnly.Out + codeOnly.Err);
        }
    }

    /// <summary>
    /// Forwards loopback TCP connections to the server, counting the bytes sent to it; past
    /// <c>cutAfter</c> it closes every connection, open or new, like a network that went away.
    /// </summary>
    private sealed class CountingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly int _serverPort;
        private readonly long _cutAfter;
        private readonly Task _accepting;
        private long _bytes;

        public CountingProxy(int serverPort, long cutAfter)
        {
            _serverPort = serverPort;
            _cutAfter = cutAfter;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        public long BytesToServer => Interlocked.Read(ref _bytes);
        private bool Cut => BytesToServer > _cutAfter;

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
                _ = Task.Run(() => ForwardAsync(client));
            }
        }

        private async Task ForwardAsync(TcpClient client)
        {
            using (client)
            using (var upstream = new TcpClient())
            {
                if (Cut) return;
                await upstream.ConnectAsync(IPAddress.Loopback, _serverPort);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = PumpAsync(client.GetStream(), upstream.GetStream(), count: true, done.Token);
                var down = PumpAsync(upstream.GetStream(), client.GetStream(), count: false, done.Token);
                await Task.WhenAny(up, down);
                await done.CancelAsync();
            }
        }

        private async Task PumpAsync(Stream from, Stream to, bool count, CancellationToken ct)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while (!Cut && (read = await from.ReadAsync(buffer, ct)) > 0)
                {
                    await to.WriteAsync(buffer.AsMemory(0, read), ct);
                    if (count) Interlocked.Add(ref _bytes, read);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException) { }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}

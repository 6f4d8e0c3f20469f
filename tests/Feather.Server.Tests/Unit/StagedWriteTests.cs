using System.IO.Pipelines;
using System.Security.Cryptography;
using Feather.Server.Blobs;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// The staging loop every upload goes through, on a real file of this machine's temporary directory: large bodies take
/// the direct-I/O path (aligned chunks, the head and tail through the page cache), and every byte that arrived is in
/// the file, in order, whatever ended the body.
/// </summary>
public sealed class StagedWriteTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("feather-staged-write-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A request body that arrives in uneven pieces, and ends with <paramref name="failure"/> when given.</summary>
    private static PipeReader Body(byte[] bytes, Exception? failure = null)
    {
        var pipe = new Pipe();
        _ = Task.Run(async () =>
        {
            for (var at = 0; at < bytes.Length;)
            {
                var piece = Math.Min(100_003, bytes.Length - at);
                await pipe.Writer.WriteAsync(bytes.AsMemory(at, piece));
                at += piece;
            }
            await pipe.Writer.CompleteAsync(failure);
        });
        return pipe.Reader;
    }

    private static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [Fact]
    public async Task A_large_body_is_written_whole_with_direct_io_and_the_handle_is_left_buffered()
    {
        var bytes = Bytes(9 * 1024 * 1024 + 4097, seed: 1);
        byte[] tail = "tail"u8.ToArray();
        var path = Path.Combine(_dir, "whole");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var copy = await StagedWrite.CopyAsync(Body(bytes), file, 0, bytes.Length, hash, CancellationToken.None);

            Assert.Equal(new StagedCopy(bytes.Length, PastLimit: false, Direct: OperatingSystem.IsLinux()), copy);
            // an unaligned write at an unaligned offset: refused (EINVAL) if the handle had kept O_DIRECT
            RandomAccess.Write(file, tail, bytes.Length);
        }
        Assert.Equal(Sha256(bytes), Convert.ToHexStringLower(hash.GetHashAndReset()));
        byte[] expected = [.. bytes, .. tail];
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_resumed_upload_at_an_unaligned_offset_keeps_the_staged_prefix_and_appends_the_rest()
    {
        var prefix = Bytes(12_345, seed: 2);
        var rest = Bytes(9 * 1024 * 1024 + 17, seed: 3);
        var path = Path.Combine(_dir, "resumed");
        await File.WriteAllBytesAsync(path, prefix);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            var copy = await StagedWrite.CopyAsync(Body(rest), file, prefix.Length, prefix.Length + rest.Length, hash, CancellationToken.None);
            Assert.Equal(rest.Length, copy.Written);
            Assert.False(copy.PastLimit);
        }
        Assert.Equal(Sha256(rest), Convert.ToHexStringLower(hash.GetHashAndReset()));
        byte[] expected = [.. prefix, .. rest];
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_broken_connection_leaves_every_byte_that_arrived_in_the_file()
    {
        var arrived = Bytes(6 * 1024 * 1024 + 100, seed: 4);
        var path = Path.Combine(_dir, "broken");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var broken = new IOException("the connection was reset");
            var thrown = await Assert.ThrowsAsync<IOException>(() =>
                StagedWrite.CopyAsync(Body(arrived, broken), file, 0, 64L * 1024 * 1024, hash, CancellationToken.None));
            Assert.Same(broken, thrown);
        }
        Assert.Equal(arrived, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_body_past_its_limit_stops_short_of_the_limit()
    {
        var bytes = Bytes(10 * 1024 * 1024, seed: 5);
        var limit = 9L * 1024 * 1024;
        var path = Path.Combine(_dir, "past");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);

        var copy = await StagedWrite.CopyAsync(Body(bytes), file, 0, limit, hash, CancellationToken.None);

        Assert.True(copy.PastLimit);
        Assert.InRange(copy.Written, 0, limit);
        Assert.Equal(copy.Written, RandomAccess.GetLength(file));
        var written = new byte[copy.Written];
        RandomAccess.Read(file, written, 0);
        Assert.Equal(bytes.AsSpan(0, (int)copy.Written).ToArray(), written);
    }

    [Fact]
    public async Task A_small_body_goes_through_the_page_cache()
    {
        var bytes = Bytes(3 * 1024 * 1024 + 1, seed: 6);
        var path = Path.Combine(_dir, "small");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
            Assert.Equal(new StagedCopy(bytes.Length, PastLimit: false, Direct: false),
                await StagedWrite.CopyAsync(Body(bytes), file, 0, bytes.Length, hash, CancellationToken.None));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
    }
}

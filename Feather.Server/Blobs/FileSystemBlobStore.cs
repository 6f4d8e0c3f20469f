using System.IO.Pipelines;
using System.Security.Cryptography;
using Feather.Server.Configuration;

namespace Feather.Server.Blobs;

public enum StageOutcome { Stored, TooLarge, TooSmall, HashMismatch }

public sealed record StageResult(StageOutcome Outcome, string Detail);

/// <summary>
/// Blobs live at <c>blobs/ab/cdef…</c> (named by SHA-256); uploads stream into
/// <c>staging/&lt;publishId&gt;/</c>, are hashed as they arrive, and move into the store with
/// an atomic rename when a publish completes.
/// </summary>
public sealed class FileSystemBlobStore(FeatherOptions options, ILogger<FileSystemBlobStore> logger) : IBlobStore
{
    private readonly string _blobs = Directory.CreateDirectory(options.BlobDirectory).FullName;
    private readonly string _staging = Directory.CreateDirectory(options.StagingDirectory).FullName;

    public Task<bool> ExistsAsync(string sha256, CancellationToken ct) =>
        Task.FromResult(SafePath.IsSha256(sha256) && File.Exists(BlobPath(sha256)));

    public Task<Stream> OpenReadAsync(string sha256, CancellationToken ct)
    {
        var path = BlobPath(sha256);
        if (!File.Exists(path))
            throw new FileNotFoundException($"blob {sha256} is not stored", sha256);
        return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));
    }

    /// <summary>Streams <paramref name="body"/> into staging, checking size and hash as it arrives.</summary>
    public async Task<StageResult> StageAsync(string publishId, string sha256, long expectedSize, Stream body, CancellationToken ct)
    {
        var reader = StagedWrite.Reader(body);
        try
        {
            return await StageAsync(publishId, sha256, expectedSize, reader, ct);
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }

    /// <summary>Streams <paramref name="body"/> into staging, checking size and hash as it arrives.</summary>
    public async Task<StageResult> StageAsync(string publishId, string sha256, long expectedSize, PipeReader body, CancellationToken ct)
    {
        var dir = SafePath.Combine(_staging, publishId);
        Directory.CreateDirectory(dir);
        var final = SafePath.Combine(_staging, publishId, sha256);
        var part = SafePath.Combine(_staging, publishId, $"{sha256}.{Guid.NewGuid():N}.part");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            using (var file = File.OpenHandle(part, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var copied = await StagedWrite.CopyAsync(body, file, 0, expectedSize, hash, ct);
                if (copied.PastLimit)
                    return new StageResult(StageOutcome.TooLarge, $"the upload is larger than the declared size of {expectedSize} bytes");
                if (copied.Written < expectedSize)
                    return new StageResult(StageOutcome.TooSmall, $"the upload has {copied.Written} bytes, the manifest declared {expectedSize}");
                var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (actual != sha256)
                    return new StageResult(StageOutcome.HashMismatch, $"the upload's SHA-256 is {actual}, the manifest declared {sha256}");
                StagedWrite.Durable(file);
            }
            File.Move(part, final, overwrite: true);
            return new StageResult(StageOutcome.Stored, $"{expectedSize} bytes stored");
        }
        finally
        {
            TryDelete(part); // gone after the rename; anything refused or broken off is not kept
        }
    }

    /// <summary>
    /// The bytes staged so far of a resumable upload (<see cref="ResumableFile"/>); <paramref name="key"/> names the
    /// file in its publish's staging: its SHA-256, or the key of a file published without one.
    /// </summary>
    public long StagedOffset(string publishId, string key, long size) =>
        ResumableFile.Offset(SafePath.Combine(_staging, publishId, key), size);

    /// <summary>
    /// Appends to a file's resumable staging at <paramref name="offset"/> (<see cref="ResumableFile.AppendAsync"/>);
    /// <paramref name="sha256"/> null: the file is named by the hash of what arrived.
    /// </summary>
    public Task<AppendResult> AppendStagedAsync(string publishId, string key, string? sha256, long size, long offset, PipeReader body, CancellationToken ct)
    {
        var final = SafePath.Combine(_staging, publishId, key);
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        return ResumableFile.AppendAsync(final, sha256, size, offset, body, ct);
    }

    /// <summary>The SHA-256 of a complete file staged under a key without a declared hash; null until it is complete.</summary>
    public string? StagedHash(string publishId, string key) => ResumableFile.StoredHash(SafePath.Combine(_staging, publishId, key));

    public bool IsStaged(string publishId, string key) => File.Exists(SafePath.Combine(_staging, publishId, key));

    /// <summary>Opens a staged file (complete and verified) of an open publish for reading, before it is committed.</summary>
    public Stream OpenStaged(string publishId, string sha256) =>
        new FileStream(SafePath.Combine(_staging, publishId, sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
            FileOptions.Asynchronous | FileOptions.SequentialScan);

    public string? LocalPath(string sha256) =>
        SafePath.IsSha256(sha256) && BlobPath(sha256) is var path && File.Exists(path) ? path : null;

    /// <summary>
    /// Stored blobs are read-only for everyone (0444): nothing changes a blob in place, and a version's weights are
    /// bound from here into its steps, which run as an unprivileged user.
    /// </summary>
    public const UnixFileMode StoredMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Moves a staged file into the store (atomic rename on the same file system); <paramref name="key"/> is its name
    /// in staging when that is not its hash (a file published without one).
    /// </summary>
    public void Commit(string publishId, string sha256, string? key = null)
    {
        var staged = SafePath.Combine(_staging, publishId, key ?? sha256);
        var target = BlobPath(sha256);
        if (File.Exists(target))
        {
            TryDelete(staged);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        try
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(staged, StoredMode);
            File.Move(staged, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            TryDelete(staged); // a concurrent publish stored the same bytes first
        }
    }

    public void DeleteStaging(string publishId)
    {
        var dir = SafePath.Combine(_staging, publishId);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
            logger.LogInformation("Removed staging folder of publish {PublishId}", publishId);
        }
    }

    public IEnumerable<string> StagingIds() =>
        Directory.EnumerateDirectories(_staging).Select(Path.GetFileName).OfType<string>();

    /// <summary>Every stored blob with its size: a snapshot of the store's folders (staging not included).</summary>
    public List<(string Sha256, long Size)> List()
    {
        var found = new List<(string, long)>();
        foreach (var folder in Directory.EnumerateDirectories(_blobs))
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                var sha = Path.GetFileName(folder) + Path.GetFileName(file);
                if (SafePath.IsSha256(sha)) found.Add((sha, new System.IO.FileInfo(file).Length));
            }
        return found;
    }

    /// <summary>Removes a stored blob; false when it was not there.</summary>
    public bool Delete(string sha256)
    {
        var path = BlobPath(sha256);
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }

    public string BlobPath(string sha256)
    {
        if (!SafePath.IsSha256(sha256))
            throw new UnsafePathException($"'{sha256}' is not a lowercase hex SHA-256");
        return SafePath.Combine(_blobs, sha256[..2], sha256[2..]);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class BlobsExtensions
{
    public static WebApplicationBuilder AddBlobs(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FileSystemBlobStore>();
        builder.Services.AddSingleton<IBlobStore>(sp => sp.GetRequiredService<FileSystemBlobStore>());
        return builder;
    }
}

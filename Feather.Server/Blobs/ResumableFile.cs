using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Feather.Server.Blobs;

public enum AppendOutcome { Stored, Partial, OffsetMismatch, Busy, TooLarge, HashMismatch }

/// <summary>
/// What an append did; <see cref="Offset"/> is the bytes staged afterwards (the server's offset), <see cref="Sha256"/>
/// the file's hash once it is stored.
/// </summary>
public sealed record AppendResult(AppendOutcome Outcome, long Offset, string Detail, string? Sha256 = null);

/// <summary>
/// An offset-based resumable upload of one file of known size, staged on disk as <c>&lt;final&gt;.part</c> (so it
/// survives a server restart) and renamed to <c>&lt;final&gt;</c> once every byte is there, hashed and on disk. Like
/// tus: the offset is the length of the part file; an append must start exactly there; bytes that arrived before a
/// broken connection stay staged. A file declared with its SHA-256 is refused (and emptied) when the bytes do not
/// match; a file declared without one is named by the hash of what arrived, which is kept next to it in
/// <c>&lt;final&gt;.sha256</c> (<see cref="StoredHash"/>). Reusable by any feature that stages uploads.
/// </summary>
public static class ResumableFile
{
    public static string PartPath(string final) => final + ".part";

    private static string HashPath(string final) => final + ".sha256";

    /// <summary>The bytes staged so far: the whole size once the file is complete, else the part's length.</summary>
    public static long Offset(string final, long size) =>
        File.Exists(final) ? size : File.Exists(PartPath(final)) ? new System.IO.FileInfo(PartPath(final)).Length : 0;

    /// <summary>The SHA-256 a file staged without a declared hash was stored with; null until it is complete.</summary>
    public static string? StoredHash(string final) =>
        File.Exists(final) && File.Exists(HashPath(final)) && File.ReadAllText(HashPath(final)).Trim() is var sha && SafePath.IsSha256(sha) ? sha : null;

    /// <summary>
    /// Appends <paramref name="body"/> at <paramref name="offset"/>, which must be the current offset. The hash state
    /// is rebuilt from the staged prefix, so the file is hashed whole when it completes. <paramref name="sha256"/>
    /// null: the file is named by what arrived.
    /// </summary>
    public static async Task<AppendResult> AppendAsync(string final, string? sha256, long size, long offset, PipeReader body, CancellationToken ct)
    {
        if (File.Exists(final))
            return offset == size
                ? new AppendResult(AppendOutcome.Stored, size, "the file is already complete", sha256 ?? StoredHash(final))
                : new AppendResult(AppendOutcome.OffsetMismatch, size, $"the file is already complete ({size} bytes)");
        var part = PartPath(final);
        SafeFileHandle file;
        try
        {
            // FileShare.None locks the part: a second upload of the same file at the same time is refused
            file = File.OpenHandle(part, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return new AppendResult(AppendOutcome.Busy, Offset(final, size), "another upload of this file is in progress");
        }
        string actual;
        using (file)
        {
            var staged = RandomAccess.GetLength(file);
            if (staged != offset)
                return new AppendResult(AppendOutcome.OffsetMismatch, staged, $"the upload starts at byte {offset}, but the server has {staged} bytes of this file");
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            StagedWrite.HashPrefix(file, staged, hash);
            // a broken connection throws out of the copy: what arrived stays staged, and the client resumes from the new offset
            var copied = await StagedWrite.CopyAsync(body, file, staged, size, hash, ct);
            if (copied.PastLimit)
            {
                RandomAccess.SetLength(file, offset); // nothing of an oversized request is kept
                return new AppendResult(AppendOutcome.TooLarge, offset, $"the upload is larger than the declared size of {size} bytes");
            }
            var length = staged + copied.Written;
            if (length < size)
                return new AppendResult(AppendOutcome.Partial, length, $"{length} of {size} bytes staged");
            actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (sha256 is not null && actual != sha256)
            {
                RandomAccess.SetLength(file, 0);
                return new AppendResult(AppendOutcome.HashMismatch, 0, $"the upload's SHA-256 is {actual}, the manifest declared {sha256}");
            }
            StagedWrite.Durable(file);
        }
        if (sha256 is null)
        {
            // before the rename: a complete file always has its hash beside it
            File.WriteAllText(HashPath(final) + ".tmp", actual);
            File.Move(HashPath(final) + ".tmp", HashPath(final), overwrite: true);
        }
        File.Move(part, final, overwrite: true);
        return new AppendResult(AppendOutcome.Stored, size, $"{size} bytes stored", actual);
    }
}

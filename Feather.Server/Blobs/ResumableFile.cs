using System.Security.Cryptography;

namespace Feather.Server.Blobs;

public enum AppendOutcome { Stored, Partial, OffsetMismatch, Busy, TooLarge, HashMismatch }

/// <summary>What an append did; <see cref="Offset"/> is the bytes staged afterwards (the server's offset).</summary>
public sealed record AppendResult(AppendOutcome Outcome, long Offset, string Detail);

/// <summary>
/// An offset-based resumable upload of one file of known size and SHA-256, staged on disk as
/// <c>&lt;final&gt;.part</c> (so it survives a server restart) and renamed to <c>&lt;final&gt;</c> once every
/// byte is there and the hash over the whole file matches. Like tus: the offset is the length of the part
/// file; an append must start exactly there; bytes that arrived before a broken connection stay staged.
/// Reusable by any feature that stages uploads (publishing, datasets).
/// </summary>
public static class ResumableFile
{
    private const int BufferSize = 1 << 16;

    public static string PartPath(string final) => final + ".part";

    /// <summary>The bytes staged so far: the whole size once the file is complete, else the part's length.</summary>
    public static long Offset(string final, long size) =>
        File.Exists(final) ? size : File.Exists(PartPath(final)) ? new System.IO.FileInfo(PartPath(final)).Length : 0;

    /// <summary>
    /// Appends <paramref name="body"/> at <paramref name="offset"/>, which must be the current offset.
    /// The hash state is rebuilt from the staged prefix, so the file is hashed whole when it completes.
    /// </summary>
    public static async Task<AppendResult> AppendAsync(string final, string sha256, long size, long offset, Stream body, CancellationToken ct)
    {
        if (File.Exists(final))
            return offset == size
                ? new AppendResult(AppendOutcome.Stored, size, "the file is already complete")
                : new AppendResult(AppendOutcome.OffsetMismatch, size, $"the file is already complete ({size} bytes)");
        var part = PartPath(final);
        FileStream file;
        try
        {
            // FileShare.None locks the part: a second upload of the same file at the same time is refused
            file = new FileStream(part, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, BufferSize, useAsync: true);
        }
        catch (IOException)
        {
            return new AppendResult(AppendOutcome.Busy, Offset(final, size), "another upload of this file is in progress");
        }
        await using (file)
        {
            var staged = file.Length;
            if (staged != offset)
                return new AppendResult(AppendOutcome.OffsetMismatch, staged, $"the upload starts at byte {offset}, but the server has {staged} bytes of this file");
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[BufferSize];
            int read;
            while (file.Position < staged && (read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, staged - file.Position)), ct)) > 0)
                hash.AppendData(buffer, 0, read);
            file.Seek(staged, SeekOrigin.Begin);
            try
            {
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    if (file.Position + read > size)
                    {
                        file.SetLength(offset); // nothing of an oversized request is kept
                        return new AppendResult(AppendOutcome.TooLarge, offset, $"the upload is larger than the declared size of {size} bytes");
                    }
                    hash.AppendData(buffer, 0, read);
                    // not cancelled by the client going away: bytes that arrived are staged, so a resume skips them
                    await file.WriteAsync(buffer.AsMemory(0, read), CancellationToken.None);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException)
            {
                // the connection broke: what arrived stays staged, and the client resumes from the new offset
                await file.FlushAsync(CancellationToken.None);
                throw;
            }
            await file.FlushAsync(ct);
            if (file.Length < size)
                return new AppendResult(AppendOutcome.Partial, file.Length, $"{file.Length} of {size} bytes staged");
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (actual != sha256)
            {
                file.SetLength(0);
                return new AppendResult(AppendOutcome.HashMismatch, 0, $"the upload's SHA-256 is {actual}, the manifest declared {sha256}");
            }
        }
        File.Move(part, final, overwrite: true);
        return new AppendResult(AppendOutcome.Stored, size, $"{size} bytes stored");
    }
}

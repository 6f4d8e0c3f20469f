using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Feather.Server.Blobs;

/// <summary>How a copy into a staged file ended: the bytes written, or that the body passed its limit.</summary>
public readonly record struct StagedCopy(long Written, bool PastLimit);

/// <summary>
/// The one loop that writes an upload's bytes to a staged file (<see cref="ResumableFile"/> and
/// <c>FileSystemBlobStore.StageAsync</c>): each read is hashed, then written at its offset, whatever becomes
/// of the request (bytes that arrived are kept, so a resumed upload does not send them again). Every
/// <see cref="WritebackBytes"/> the disk is asked to start writing what came so far (Linux <c>sync_file_range</c>),
/// so a gigabyte upload does not leave a gigabyte of dirty pages behind for the next <c>sync</c> (the engine's
/// commit of the version image) to wait for, and <see cref="Durable"/> (fsync before the file is renamed into place)
/// costs little: a stored blob is on disk before a version names it.
/// </summary>
public static class StagedWrite
{
    /// <summary>The buffer to read a plain stream through (a request's body is read from Kestrel's own buffers).</summary>
    public const int BufferSize = 1 << 20;

    /// <summary>Bytes between two requests to the disk to start writing.</summary>
    public const long WritebackBytes = 32L << 20;

    /// <summary>A reader over <paramref name="body"/> for <see cref="CopyAsync"/>.</summary>
    public static PipeReader Reader(Stream body) =>
        PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: BufferSize, minimumReadSize: BufferSize / 4, leaveOpen: true));

    /// <summary>
    /// Copies <paramref name="body"/> into <paramref name="file"/> from <paramref name="offset"/>, hashing every byte
    /// into <paramref name="hash"/>, until the body ends or the file would pass <paramref name="limit"/> bytes (then
    /// nothing of the read that passed it is written, and the caller discards what this copy wrote). What the reader
    /// holds is hashed and written straight from its buffers (one gathered write per read).
    /// </summary>
    public static async Task<StagedCopy> CopyAsync(PipeReader body, SafeFileHandle file, long offset, long limit, IncrementalHash hash, CancellationToken ct)
    {
        var position = offset;
        var kicked = offset;
        var segments = new List<ReadOnlyMemory<byte>>();
        while (true)
        {
            var read = await body.ReadAsync(ct);
            var buffer = read.Buffer;
            if (position + buffer.Length > limit)
            {
                body.AdvanceTo(buffer.Start, buffer.End);
                return new StagedCopy(position - offset, PastLimit: true);
            }
            segments.Clear();
            foreach (var segment in buffer)
            {
                hash.AppendData(segment.Span);
                segments.Add(segment);
            }
            // not cancelled with the request: bytes that arrived are staged
            if (segments.Count > 0) await RandomAccess.WriteAsync(file, segments, position, CancellationToken.None);
            position += buffer.Length;
            body.AdvanceTo(buffer.End);
            if (position - kicked >= WritebackBytes)
            {
                StartWriteback(file, kicked, position - kicked);
                kicked = position;
            }
            if (read.IsCompleted || read.IsCanceled) return new StagedCopy(position - offset, PastLimit: false);
        }
    }

    /// <summary>Hashes the first <paramref name="length"/> bytes of a staged file (a resumed upload's prefix).</summary>
    public static void HashPrefix(SafeFileHandle file, long length, IncrementalHash hash)
    {
        var buffer = new byte[BufferSize];
        for (long at = 0; at < length;)
        {
            var read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - at)), at);
            if (read == 0) break;
            hash.AppendData(buffer, 0, read);
            at += read;
        }
    }

    /// <summary>Waits until the file's bytes are on disk (fsync).</summary>
    public static void Durable(SafeFileHandle file) => RandomAccess.FlushToDisk(file);

    private const uint SyncFileRangeWrite = 2; // SYNC_FILE_RANGE_WRITE: start writing dirty pages of the range, do not wait

    /// <summary>Asks the kernel to start writing a range of the file to disk; a no-op where that cannot be asked.</summary>
    private static void StartWriteback(SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            _ = SyncFileRange(file, offset, length, SyncFileRangeWrite); // advisory: a refusal changes nothing but timing
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [DllImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static extern int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);
}

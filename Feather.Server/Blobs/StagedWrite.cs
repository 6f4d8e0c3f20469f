using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Feather.Server.Blobs;

/// <summary>
/// How a copy into a staged file ended: the bytes written, whether the body passed its limit, and whether the bytes
/// went to the disk directly (O_DIRECT) rather than through the page cache.
/// </summary>
public readonly record struct StagedCopy(long Written, bool PastLimit, bool Direct = false);

/// <summary>
/// The one loop that writes an upload's bytes to a staged file (<see cref="ResumableFile"/> and
/// <c>FileSystemBlobStore.StageAsync</c>): each read is hashed, then written at its offset, whatever becomes
/// of the request (bytes that arrived are kept, so a resumed upload does not send them again).
/// <para>
/// A large body (<see cref="DirectMinimum"/> or more) is written with direct I/O where the file system takes it
/// (Linux <c>O_DIRECT</c>: ext4, xfs, tmpfs; not where <c>fcntl</c> refuses the flag): the bytes are gathered into two
/// page-aligned <see cref="ChunkSize"/> buffers, one filling while the other is written, so the disk writes while the
/// next chunk arrives. Measured here, copying a gigabyte into the page cache cost the server 3 to 6 s of CPU when the
/// machine's memory was slow to hand out fresh pages, a direct write of it 0.2 s (docs/benchmarks.md); a blob is
/// read once, by the step that mounts it, so caching it on the way in bought nothing. The unaligned head of a resumed
/// upload and the tail of every upload go through the page cache.
/// </para>
/// <para>
/// Smaller bodies, and file systems without direct I/O, are written through the page cache, asking the disk every
/// <see cref="WritebackBytes"/> to start writing what came so far (Linux <c>sync_file_range</c>), so a gigabyte upload
/// does not leave a gigabyte of dirty pages behind for the next <c>sync</c> to wait for. Either way
/// <see cref="Durable"/> (fsync before the file is renamed into place) makes a stored blob durable before a version
/// names it.
/// </para>
/// </summary>
public static class StagedWrite
{
    /// <summary>The buffer to read a plain stream through (a request's body is read from Kestrel's own buffers).</summary>
    public const int BufferSize = 1 << 20;

    /// <summary>Bytes between two requests to the disk to start writing (buffered copies).</summary>
    public const long WritebackBytes = 32L << 20;

    /// <summary>The bytes of one direct write; two such buffers serve one copy.</summary>
    public const int ChunkSize = 4 << 20;

    /// <summary>The smallest body (its most bytes, from the limit) written with direct I/O.</summary>
    public const long DirectMinimum = 2L * ChunkSize;

    /// <summary>Offsets, lengths and buffer addresses of direct writes are multiples of this.</summary>
    private const int Alignment = 4096;

    /// <summary>A reader over <paramref name="body"/> for <see cref="CopyAsync"/>.</summary>
    public static PipeReader Reader(Stream body) =>
        PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: BufferSize, minimumReadSize: BufferSize / 4, leaveOpen: true));

    /// <summary>
    /// Copies <paramref name="body"/> into <paramref name="file"/> from <paramref name="offset"/>, hashing every byte
    /// into <paramref name="hash"/>, until the body ends or the file would pass <paramref name="limit"/> bytes (then
    /// nothing of the read that passed it is written, and the caller discards what this copy wrote). The handle is
    /// left as it came (direct I/O is switched off again before this returns).
    /// </summary>
    public static Task<StagedCopy> CopyAsync(PipeReader body, SafeFileHandle file, long offset, long limit, IncrementalHash hash, CancellationToken ct) =>
        limit - offset >= DirectMinimum && DirectIo.TrySet(file, on: true)
            ? CopyDirectAsync(body, file, offset, limit, hash, ct)
            : CopyBufferedAsync(body, file, offset, limit, hash, ct);

    /// <summary>What the reader holds is hashed and written straight from its buffers (one gathered write per read).</summary>
    private static async Task<StagedCopy> CopyBufferedAsync(PipeReader body, SafeFileHandle file, long offset, long limit, IncrementalHash hash, CancellationToken ct)
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

    /// <summary>
    /// The direct copy: reads are hashed and gathered into the current aligned chunk; a full chunk is written while the
    /// other one fills. The first chunk ends at an aligned offset (a resumed upload's head is written through the page
    /// cache); whatever ends the copy (its end, its limit, a broken connection), what was gathered is written before
    /// this returns or throws.
    /// </summary>
    private static async Task<StagedCopy> CopyDirectAsync(PipeReader body, SafeFileHandle file, long offset, long limit, IncrementalHash hash, CancellationToken ct)
    {
        using var chunks = new AlignedChunks();
        var current = 0;
        var chunkStart = offset; // the file offset of the current chunk's first byte
        var filled = 0;
        var head = (int)((Alignment - offset % Alignment) % Alignment);
        var capacity = head > 0 ? head : ChunkSize;
        var direct = head == 0;
        var refused = new DirectRefusal();
        if (head > 0) DirectIo.TrySet(file, on: false); // the head goes through the page cache
        Task inFlight = Task.CompletedTask;
        var pastLimit = false;
        try
        {
            while (true)
            {
                var read = await body.ReadAsync(ct);
                var buffer = read.Buffer;
                if (chunkStart + filled + buffer.Length > limit)
                {
                    body.AdvanceTo(buffer.Start, buffer.End);
                    pastLimit = true;
                    break;
                }
                foreach (var segment in buffer) hash.AppendData(segment.Span);
                var rest = buffer;
                while (rest.Length > 0)
                {
                    var take = (int)Math.Min(capacity - filled, rest.Length);
                    rest.Slice(0, take).CopyTo(chunks[current].Span[filled..]);
                    filled += take;
                    rest = rest.Slice(take);
                    if (filled < capacity) continue;
                    // a full chunk: wait for the one before it, then write this one while the other fills
                    await inFlight;
                    if (direct)
                    {
                        inFlight = WriteChunkAsync(file, chunks[current][..filled], chunkStart, refused);
                        current ^= 1;
                    }
                    else
                    {
                        await RandomAccess.WriteAsync(file, chunks[current][..filled], chunkStart, CancellationToken.None);
                        direct = DirectIo.TrySet(file, on: true); // past the head: aligned from here
                    }
                    chunkStart += filled;
                    filled = 0;
                    capacity = ChunkSize;
                }
                body.AdvanceTo(buffer.End);
                if (read.IsCompleted || read.IsCanceled) break;
            }
        }
        finally
        {
            // not cancelled with the request: bytes that arrived are staged
            await inFlight;
            var aligned = direct ? filled / Alignment * Alignment : 0;
            if (aligned > 0) await WriteChunkAsync(file, chunks[current][..aligned], chunkStart, refused);
            DirectIo.TrySet(file, on: false);
            if (filled > aligned) await RandomAccess.WriteAsync(file, chunks[current][aligned..filled], chunkStart + aligned, CancellationToken.None);
        }
        return new StagedCopy(chunkStart + filled - offset, pastLimit, Direct: direct && !refused.Refused);
    }

    /// <summary>
    /// One direct write; where the file system took the flag but refuses the write itself, the flag is dropped for
    /// this handle and the chunk goes through the page cache.
    /// </summary>
    private static async Task WriteChunkAsync(SafeFileHandle file, ReadOnlyMemory<byte> chunk, long at, DirectRefusal refused)
    {
        try
        {
            await RandomAccess.WriteAsync(file, chunk, at, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ArgumentException && !refused.Refused)
        {
            refused.Refused = true;
            DirectIo.TrySet(file, on: false);
            await RandomAccess.WriteAsync(file, chunk, at, CancellationToken.None);
        }
    }

    /// <summary>Set once a direct write was refused: the rest of the copy goes through the page cache.</summary>
    private sealed class DirectRefusal
    {
        public volatile bool Refused;
    }

    /// <summary>Two page-aligned <see cref="ChunkSize"/> buffers in pinned arrays, kept for the next copy when returned.</summary>
    private sealed class AlignedChunks : IDisposable
    {
        private static readonly System.Collections.Concurrent.ConcurrentBag<byte[]> Kept = [];
        private const int KeptMost = 4;
        private readonly byte[][] _arrays;
        private readonly Memory<byte>[] _aligned;

        public AlignedChunks()
        {
            _arrays = [Rent(), Rent()];
            _aligned = [Aligned(_arrays[0]), Aligned(_arrays[1])];
        }

        public Memory<byte> this[int index] => _aligned[index];

        private static byte[] Rent() =>
            Kept.TryTake(out var array) ? array : GC.AllocateUninitializedArray<byte>(ChunkSize + Alignment, pinned: true);

        private static Memory<byte> Aligned(byte[] array)
        {
            var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0).ToInt64();
            var skip = (int)((Alignment - address % Alignment) % Alignment);
            return array.AsMemory(skip, ChunkSize);
        }

        public void Dispose()
        {
            foreach (var array in _arrays)
                if (Kept.Count < KeptMost) Kept.Add(array);
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

    /// <summary>Switches direct I/O (<c>O_DIRECT</c>) on and off for an open file, on Linux where the file system takes it.</summary>
    private static class DirectIo
    {
        private const int GetFlags = 3; // F_GETFL
        private const int SetFlags = 4; // F_SETFL

        /// <summary>The flag's value differs by architecture; null where it is not known here (direct I/O is not used).</summary>
        private static readonly int? Flag = !OperatingSystem.IsLinux() ? null : RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 0x4000,    // 040000
            Architecture.Arm64 => 0x10000, // 0200000
            _ => null,
        };

        /// <summary>Sets or clears the flag; false where it could not be set (an unknown platform, a file system without it).</summary>
        public static bool TrySet(SafeFileHandle file, bool on)
        {
            if (Flag is not { } flag) return false;
            try
            {
                var flags = Fcntl(file, GetFlags, 0);
                if (flags < 0) return false;
                var wanted = on ? flags | flag : flags & ~flag;
                return wanted == flags || Fcntl(file, SetFlags, wanted) == 0;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return false;
            }
        }

        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static extern int Fcntl(SafeFileHandle fd, int command, int argument);
    }
}

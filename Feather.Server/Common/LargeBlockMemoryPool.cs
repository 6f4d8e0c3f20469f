using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Feather.Server.Common;

/// <summary>
/// The memory Kestrel reads connections into, in blocks of <see cref="BlockSize"/> instead of its default 4 KiB:
/// the socket transport receives at most one block per call, so a gigabyte upload at 4 KiB made 262,144 receives
/// (and as many trips through the pipe) per GiB and cost more CPU than the SHA-256 the server computes over the same
/// bytes. Blocks are allocated on the pinned object heap (the socket pins what it receives into) and reused; at most
/// <see cref="KeptBlocks"/> free ones are kept per pool, the rest are left to the garbage collector.
/// </summary>
public sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;
    public const int KeptBlocks = 256;

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _freeCount;
    private bool _disposed;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"blocks hold at most {BlockSize} bytes");
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryDequeue(out var block)) Interlocked.Decrement(ref _freeCount);
        else block = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        return new Lease(this, block);
    }

    private void Return(byte[] block)
    {
        if (_disposed || Interlocked.Increment(ref _freeCount) > KeptBlocks)
        {
            Interlocked.Decrement(ref _freeCount);
            return;
        }
        _free.Enqueue(block);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
    }

    private sealed class Lease(LargeBlockMemoryPool pool, byte[] block) : IMemoryOwner<byte>
    {
        private byte[]? _block = block;

        public Memory<byte> Memory => _block ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _block, null) is { } b) pool.Return(b);
        }
    }

    /// <summary>What Kestrel asks for its pools (registered in place of its default factory).</summary>
    public sealed class Factory : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
    }
}

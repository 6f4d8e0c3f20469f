using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// Containers made ahead of demand. Per (version image, profile, entrypoint) used in the last
/// <see cref="RunnerOptions.WarmContainerIdleSeconds"/>, it keeps up to <see cref="RunnerOptions.WarmContainers"/>
/// containers (as many as steps took in the last minute, at least one), made with the same
/// <see cref="SandboxParameters.Create"/> as any step (same limits and ownership labels, plus <see cref="WarmLabel"/>).
/// When the step's entrypoint is known the container is PREPARED: created with FEATHER_ENTRYPOINT, attached and
/// started, so the runtime imports the model and runs its preparation, then blocks reading stdin; it has seen no
/// input. Without an entrypoint it is only created. All prepared containers together hold at most
/// <see cref="RunnerOptions.PreparedMemoryBudgetMiB"/> (by their profiles' memory limits). A step takes one and the
/// pool refills in the background; a container runs one step and is removed, so none is ever reused. The pool's
/// containers are in the <see cref="ContainerTracker"/> (the reaper leaves them alone while this process lives,
/// and removes them after a crash); they are removed when idle, when their image is released
/// (<see cref="ReleaseImageAsync"/>) and when the server stops.
/// </summary>
public sealed partial class WarmContainerPool(
    IContainerEngine engine,
    ContainerTracker tracker,
    IOptions<RunnerOptions> options,
    ILogger<WarmContainerPool> logger) : IHostedService, IAsyncDisposable
{
    public const string WarmLabel = "org.feather.warm";

    private readonly object _gate = new();
    private readonly Dictionary<(string Image, string Profile, string Entrypoint), Slot> _slots = new();
    private readonly List<Task> _creating = [];
    private bool _stopped;
    private Timer? _expiry;

    /// <summary>A container made ahead: its id and name, and for a prepared (started) one its attached streams.</summary>
    public readonly record struct WarmContainer(string Id, string Name, IContainerStream? Stream = null)
    {
        public bool Prepared => Stream is not null;
    }

    /// <summary>Containers ready to be taken, per (image, profile, entrypoint).</summary>
    public IReadOnlyDictionary<(string Image, string Profile, string Entrypoint), int> Ready
    {
        get
        {
            lock (_gate) return _slots.ToDictionary(s => s.Key, s => s.Value.Ready.Count);
        }
    }

    /// <summary>
    /// Takes a created container for the image and profile, or null when none is ready (the caller
    /// creates one). Either way the pair counts as recently used and the pool refills it in the background.
    /// </summary>
    public WarmContainer? Take(string image, string profile, ProfileLimits limits, string? entrypoint = null)
    {
        var most = options.Value.WarmContainers;
        if (most == 0) return null;
        lock (_gate)
        {
            if (_stopped) return null;
            var key = (image, profile, entrypoint ?? "");
            if (!_slots.TryGetValue(key, out var slot))
                _slots[key] = slot = new Slot(limits);
            var now = DateTime.UtcNow;
            slot.LastUsed = now;
            slot.Takes.Enqueue(now);
            while (slot.Takes.Count > 0 && now - slot.Takes.Peek() > DemandWindow) slot.Takes.Dequeue();
            WarmContainer? taken = slot.Ready.Count > 0 ? slot.Ready.Dequeue() : null;
            RunnerMetrics.PreparedTakes.WithLabels(taken is null ? "miss" : "hit").Inc();
            Refill(key, slot, Math.Clamp(slot.Takes.Count, 1, most));
            UpdateGauges();
            return taken;
        }
    }

    /// <summary>The recent demand that sizes a pair's pool: steps taken in this window.</summary>
    public static readonly TimeSpan DemandWindow = TimeSpan.FromMinutes(1);

    /// <summary>Memory (MiB) held by the pool's containers, ready or being made (under the lock).</summary>
    private long HeldMiB() => _slots.Values.Sum(s => (long)(s.Ready.Count + s.Creating) * s.Limits.MemoryMiB);

    private void UpdateGauges()
    {
        RunnerMetrics.PreparedContainers.WithLabels("ready").Set(_slots.Values.Sum(s => s.Ready.Count));
        RunnerMetrics.PreparedContainers.WithLabels("preparing").Set(_slots.Values.Sum(s => s.Creating));
    }

    /// <summary>Completes when the background creations started so far have finished (tests, shutdown).</summary>
    public Task IdleAsync()
    {
        lock (_gate) return Task.WhenAll(_creating.ToArray());
    }

    private void Refill((string Image, string Profile, string Entrypoint) key, Slot slot, int target)
    {
        var budget = (long)options.Value.PreparedMemoryBudgetMiB;
        for (var missing = target - slot.Ready.Count - slot.Creating; missing > 0; missing--)
        {
            if (HeldMiB() + slot.Limits.MemoryMiB > budget) break;
            slot.Creating++;
            var task = Task.Run(() => CreateAsync(key, slot));
            _creating.Add(task);
            _ = task.ContinueWith(t => { lock (_gate) _creating.Remove(t); }, TaskScheduler.Default);
        }
    }

    private async Task CreateAsync((string Image, string Profile, string Entrypoint) key, Slot slot)
    {
        var name = "feather-warm-" + Guid.NewGuid().ToString("n");
        tracker.Add(name);
        string? id = null;
        IContainerStream? stream = null;
        var prepare = key.Entrypoint.Length > 0;
        try
        {
            var spec = new SandboxSpec(name, key.Image, key.Profile, slot.Limits, options.Value.InstanceId,
                new Dictionary<string, string> { [WarmLabel] = prepare ? "prepared" : "true" },
                prepare ? new Dictionary<string, string> { ["FEATHER_ENTRYPOINT"] = key.Entrypoint } : null);
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            id = await engine.CreateContainerAsync(spec, limit.Token);
            if (prepare)
            {
                // Attached before the start so nothing is lost; the runtime prepares the model, then blocks on stdin.
                stream = await engine.AttachAsync(id, limit.Token);
                await engine.StartContainerAsync(id, limit.Token);
            }
        }
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or OperationCanceledException or TimeoutException)
        {
            RunnerMetrics.PreparedFailures.Inc();
            LogCreateFailed(e, key.Image, key.Profile);
            stream?.Dispose();
            stream = null;
            if (prepare && id is not null)
            {
                await RemoveAsync(new WarmContainer(id, name));
                id = null;
            }
        }
        bool keep;
        lock (_gate)
        {
            slot.Creating--;
            keep = id is not null && !_stopped && _slots.TryGetValue(key, out var current) && current == slot;
            if (keep) slot.Ready.Enqueue(new WarmContainer(id!, name, stream));
            UpdateGauges();
        }
        if (!keep)
        {
            if (id is not null) await RemoveAsync(new WarmContainer(id, name, stream));
            else tracker.Remove(name);
        }
    }

    /// <summary>Removes the containers of <paramref name="image"/> (a version replaced or its image retired).</summary>
    public async Task<int> ReleaseImageAsync(string image)
    {
        List<WarmContainer> gone = [];
        lock (_gate)
        {
            foreach (var (key, slot) in _slots.Where(s => s.Key.Image == image).ToList())
            {
                gone.AddRange(slot.Ready);
                _slots.Remove(key);
            }
            UpdateGauges();
        }
        foreach (var c in gone) await RemoveAsync(c);
        return gone.Count;
    }

    /// <summary>Drops the pairs not used for longer than the idle time, removing their containers.</summary>
    public async Task<int> ExpireAsync(DateTime now)
    {
        var idle = TimeSpan.FromSeconds(options.Value.WarmContainerIdleSeconds);
        List<WarmContainer> gone = [];
        lock (_gate)
        {
            foreach (var (key, slot) in _slots.Where(s => now - s.Value.LastUsed > idle).ToList())
            {
                gone.AddRange(slot.Ready);
                _slots.Remove(key);
            }
            UpdateGauges();
        }
        foreach (var c in gone) await RemoveAsync(c);
        return gone.Count;
    }

    /// <summary>Removes every pooled container and stops refilling (server shutdown).</summary>
    public async Task DrainAsync()
    {
        List<WarmContainer> gone;
        lock (_gate)
        {
            _stopped = true;
            gone = _slots.Values.SelectMany(s => s.Ready).ToList();
            _slots.Clear();
            UpdateGauges();
        }
        foreach (var c in gone) await RemoveAsync(c);
        await IdleAsync(); // creations still in flight see _stopped and remove their container
    }

    private async Task RemoveAsync(WarmContainer c)
    {
        c.Stream?.Dispose();
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await engine.RemoveContainerAsync(c.Id, limit.Token);
        }
        catch (ContainerNotFoundException)
        {
        }
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or OperationCanceledException)
        {
            LogRemoveFailed(e, c.Name); // its label lets the reaper of the next start remove it
        }
        finally
        {
            tracker.Remove(c.Name);
        }
    }

    public Task StartAsync(CancellationToken ct)
    {
        var every = TimeSpan.FromSeconds(Math.Max(1, Math.Min(60, options.Value.WarmContainerIdleSeconds)));
        _expiry = new Timer(_ => _ = ExpireQuietlyAsync(), null, every, every);
        return Task.CompletedTask;
    }

    private async Task ExpireQuietlyAsync()
    {
        try
        {
            await ExpireAsync(DateTime.UtcNow);
        }
        catch (Exception e)
        {
            LogExpireFailed(e);
        }
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_expiry is not null) await _expiry.DisposeAsync();
        await DrainAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_expiry is not null) await _expiry.DisposeAsync();
        await DrainAsync();
    }

    private sealed class Slot(ProfileLimits limits)
    {
        public ProfileLimits Limits { get; } = limits;
        public Queue<WarmContainer> Ready { get; } = new();
        public int Creating { get; set; }
        public Queue<DateTime> Takes { get; } = new();
        public DateTime LastUsed { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not create a warm container from {Image} (profile {Profile})")]
    private partial void LogCreateFailed(Exception e, string image, string profile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove warm container {Name}; the reaper will")]
    private partial void LogRemoveFailed(Exception e, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Expiring idle warm containers failed")]
    private partial void LogExpireFailed(Exception e);
}

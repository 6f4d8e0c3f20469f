using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// Containers created ahead of demand, so a step skips the engine's create call: per (version image,
/// profile) that was used in the last <see cref="RunnerOptions.WarmContainerIdleSeconds"/>, it keeps
/// <see cref="RunnerOptions.WarmContainers"/> created-but-never-started containers, made with the same
/// <see cref="SandboxParameters.Create"/> as any step (same limits and ownership labels, plus
/// <see cref="WarmLabel"/>). A step takes one and the pool refills in the background; a container is
/// started once, runs one step and is removed, so no container is ever reused. The pool's containers are
/// in the <see cref="ContainerTracker"/> (the reaper leaves them alone while this process lives, and
/// removes them after a crash); they are removed when the server stops.
/// </summary>
public sealed partial class WarmContainerPool(
    IContainerEngine engine,
    ContainerTracker tracker,
    IOptions<RunnerOptions> options,
    ILogger<WarmContainerPool> logger) : IHostedService, IAsyncDisposable
{
    public const string WarmLabel = "org.feather.warm";

    private readonly object _gate = new();
    private readonly Dictionary<(string Image, string Profile), Slot> _slots = new();
    private readonly List<Task> _creating = [];
    private bool _stopped;
    private Timer? _expiry;

    /// <summary>A created container: its id and name.</summary>
    public readonly record struct WarmContainer(string Id, string Name);

    /// <summary>Containers ready to be taken, per (image, profile).</summary>
    public IReadOnlyDictionary<(string Image, string Profile), int> Ready
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
    public WarmContainer? Take(string image, string profile, ProfileLimits limits)
    {
        var target = options.Value.WarmContainers;
        if (target == 0) return null;
        lock (_gate)
        {
            if (_stopped) return null;
            if (!_slots.TryGetValue((image, profile), out var slot))
                _slots[(image, profile)] = slot = new Slot(limits);
            slot.LastUsed = DateTime.UtcNow;
            WarmContainer? taken = slot.Ready.Count > 0 ? slot.Ready.Dequeue() : null;
            Refill((image, profile), slot, target);
            return taken;
        }
    }

    /// <summary>Completes when the background creations started so far have finished (tests, shutdown).</summary>
    public Task IdleAsync()
    {
        lock (_gate) return Task.WhenAll(_creating.ToArray());
    }

    private void Refill((string Image, string Profile) key, Slot slot, int target)
    {
        for (var missing = target - slot.Ready.Count - slot.Creating; missing > 0; missing--)
        {
            slot.Creating++;
            var task = Task.Run(() => CreateAsync(key, slot));
            _creating.Add(task);
            _ = task.ContinueWith(t => { lock (_gate) _creating.Remove(t); }, TaskScheduler.Default);
        }
    }

    private async Task CreateAsync((string Image, string Profile) key, Slot slot)
    {
        var name = "feather-warm-" + Guid.NewGuid().ToString("n");
        tracker.Add(name);
        string? id = null;
        try
        {
            var spec = new SandboxSpec(name, key.Image, key.Profile, slot.Limits, options.Value.InstanceId,
                new Dictionary<string, string> { [WarmLabel] = "true" });
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            id = await engine.CreateContainerAsync(spec, limit.Token);
        }
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or OperationCanceledException or TimeoutException)
        {
            LogCreateFailed(e, key.Image, key.Profile);
        }
        bool keep;
        lock (_gate)
        {
            slot.Creating--;
            keep = id is not null && !_stopped && _slots.TryGetValue(key, out var current) && current == slot;
            if (keep) slot.Ready.Enqueue(new WarmContainer(id!, name));
        }
        if (!keep)
        {
            if (id is not null) await RemoveAsync(new WarmContainer(id, name));
            else tracker.Remove(name);
        }
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
        }
        foreach (var c in gone) await RemoveAsync(c);
        await IdleAsync(); // creations still in flight see _stopped and remove their container
    }

    private async Task RemoveAsync(WarmContainer c)
    {
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
        public DateTime LastUsed { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not create a warm container from {Image} (profile {Profile})")]
    private partial void LogCreateFailed(Exception e, string image, string profile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove warm container {Name}; the reaper will")]
    private partial void LogRemoveFailed(Exception e, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Expiring idle warm containers failed")]
    private partial void LogExpireFailed(Exception e);
}

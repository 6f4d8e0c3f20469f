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
/// <see cref="RunnerOptions.PreparedMemoryBudgetMiB"/> (by their profiles' memory limits). A prepared container is
/// ready (can be taken) only once the runtime's status line says its preparation succeeded; the pool reads that
/// line itself, so the preparation counts against the container's memory, never a step's timeout. A step takes
/// one and the pool refills in the background; a container runs one step and is removed, so none is ever reused.
/// A preparation that fails (the model raised, ran out of memory, died, or took longer than
/// <see cref="RunnerOptions.PreparationTimeoutSeconds"/>) is reported once to <see cref="IPreparationReports"/> (the
/// version shows it) and the pool prepares no more containers for that (image, profile, entrypoint) for
/// <see cref="RunnerOptions.PreparationRetrySeconds"/> or until a step of it succeeds; steps meanwhile prepare in
/// their own container and fail with the model's own error. The pool's containers are in the
/// <see cref="ContainerTracker"/> (the reaper leaves them alone while this process lives, and removes them after a
/// crash); they are removed when idle, when their image is released (<see cref="ReleaseImageAsync"/>: a version
/// replaced as live, or its image retired) and when the server stops.
/// </summary>
public sealed partial class WarmContainerPool(
    IContainerEngine engine,
    ContainerTracker tracker,
    IOptions<RunnerOptions> options,
    ILogger<WarmContainerPool> logger,
    IPreparationReports? reports = null,
    VersionWeights? weights = null) : IHostedService, IAsyncDisposable
{
    public const string WarmLabel = "org.feather.warm";

    private readonly object _gate = new();
    private readonly Dictionary<(string Image, string Profile, string Entrypoint), Slot> _slots = new();
    private readonly List<Task> _creating = [];
    private bool _stopped;
    private Timer? _expiry;

    private readonly Dictionary<(string Image, string Entrypoint), string> _reported = new();

    /// <summary>
    /// A container made ahead: its id and name, and for a prepared (started) one its attached streams and what it
    /// wrote while preparing (the start of the step's log).
    /// </summary>
    public readonly record struct WarmContainer(string Id, string Name, IContainerStream? Stream = null, PreparedPrelude? Prelude = null)
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
            // After a failed preparation nothing is prepared ahead until the retry time or a step that succeeds.
            if (slot.Failure is null || now >= slot.RetryAt)
                Refill(key, slot, Math.Clamp(slot.Takes.Count, 1, most));
            UpdateGauges();
            return taken;
        }
    }

    /// <summary>The failed preparation that stops the pool preparing for this key, or null.</summary>
    public PreparationFailure? FailureOf(string image, string profile, string entrypoint)
    {
        lock (_gate) return _slots.TryGetValue((image, profile, entrypoint), out var slot) ? slot.Failure : null;
    }

    /// <summary>True for a container the pool holds ready (not yet taken by a step).</summary>
    public bool Holds(string name)
    {
        lock (_gate) return _slots.Values.Any(s => s.Ready.Any(c => c.Name == name));
    }

    /// <summary>
    /// How a model's preparation went in a step's own container (a step that found none ready): a failure stops
    /// the pool preparing for the key as its own failures do; a success lets it prepare again at once.
    /// </summary>
    public void ReportPreparation(string image, string profile, string entrypoint, PreparationFailure? failure)
    {
        lock (_gate)
        {
            if (_slots.TryGetValue((image, profile, entrypoint), out var slot))
            {
                slot.Failure = failure;
                slot.RetryAt = failure is null ? default : failure.At.AddSeconds(options.Value.PreparationRetrySeconds);
            }
        }
        Publish(image, entrypoint, failure);
    }

    /// <summary>Tells <see cref="IPreparationReports"/> of a change of a model's preparation (once, not per container).</summary>
    private void Publish(string image, string entrypoint, PreparationFailure? failure)
    {
        var state = failure?.Message ?? "ok";
        lock (_gate)
        {
            if (_reported.TryGetValue((image, entrypoint), out var was) && was == state) return;
            _reported[(image, entrypoint)] = state;
        }
        if (failure is not null) LogPreparationFailed(image, entrypoint, failure.Message);
        try
        {
            reports?.Report(image, entrypoint, failure);
        }
        catch (Exception e)
        {
            LogReportFailed(e, image);
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
        PreparedPrelude? prelude = null;
        PreparationFailure? failure = null;
        var prepare = key.Entrypoint.Length > 0;
        try
        {
            var binds = weights is null ? null : await weights.BindsAsync(key.Image, CancellationToken.None);
            var spec = new SandboxSpec(name, key.Image, key.Profile, slot.Limits, options.Value.InstanceId,
                new Dictionary<string, string> { [WarmLabel] = prepare ? "prepared" : "true" },
                prepare ? new Dictionary<string, string> { ["FEATHER_ENTRYPOINT"] = key.Entrypoint } : null, binds);
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                id = await engine.CreateContainerAsync(spec, limit.Token);
                if (prepare)
                {
                    // Attached before the start so nothing is lost; the runtime prepares the model, then blocks on stdin.
                    stream = await engine.AttachAsync(id, limit.Token);
                    await engine.StartContainerAsync(id, limit.Token);
                }
            }
            if (prepare)
            {
                (prelude, failure) = await AwaitPreparedAsync(id, stream!, slot.Limits, options.Value);
                if (failure is not null)
                {
                    if (prelude?.Status is not null && !prelude.Ended)
                        failure = failure with { Log = await PreparationLog.DrainAsync(stream!, prelude, options.Value.MaxLogBytes, TimeSpan.FromMilliseconds(500)) };
                    stream!.Dispose();
                    stream = null;
                    await RemoveAsync(new WarmContainer(id, name));
                    id = null;
                }
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
            if (keep) slot.Ready.Enqueue(new WarmContainer(id!, name, stream, prelude));
            if (failure is not null)
            {
                slot.Failure = failure;
                slot.RetryAt = failure.At.AddSeconds(options.Value.PreparationRetrySeconds);
            }
            else if (prelude is not null)
            {
                slot.Failure = null;
            }
            UpdateGauges();
        }
        if (failure is not null)
        {
            RunnerMetrics.PreparedFailures.Inc();
            Publish(key.Image, key.Entrypoint, failure);
        }
        else if (prelude is not null) Publish(key.Image, key.Entrypoint, null);
        if (!keep)
        {
            if (id is not null) await RemoveAsync(new WarmContainer(id, name, stream));
            else tracker.Remove(name);
        }
    }

    /// <summary>
    /// Waits (at most <see cref="RunnerOptions.PreparationTimeoutSeconds"/>) for a started prepared container's status
    /// line. Returns what it wrote, or the failure of its preparation: the model's error, or what ended it.
    /// </summary>
    internal static async Task<(PreparedPrelude? Prelude, PreparationFailure? Failure)> AwaitPreparedAsync(IContainerEngine engine,
        string id, IContainerStream stream, ProfileLimits limits, RunnerOptions options, CancellationToken ct = default)
    {
        PreparedPrelude prelude;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.PreparationTimeoutSeconds));
        try
        {
            prelude = await PreparedPrelude.ReadAsync(stream, options.MaxLogBytes, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return (null, new PreparationFailure(
                $"PreparationError: the model's preparation took longer than {options.PreparationTimeoutSeconds} s (Runner:PreparationTimeoutSeconds)",
                null, "", DateTime.UtcNow));
        }
        if (prelude.Ok) return (prelude, null);
        if (prelude.Status is not null)
        {
            var error = prelude.Error;
            var type = error?.TryGetProperty("type", out var t) == true && t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString() : "PreparationError";
            var message = error?.TryGetProperty("message", out var m) == true && m.ValueKind == System.Text.Json.JsonValueKind.String
                ? m.GetString() : "the model's preparation failed";
            return (prelude, new PreparationFailure($"{type}: {message}", error?.GetRawText(), prelude.Log, DateTime.UtcNow));
        }
        if (!prelude.Ended)
            return (prelude, new PreparationFailure(
                "PreparationError: the runtime wrote no prepared status line (a version image built on a runner image from before prepared containers: rebuild it)",
                null, prelude.Log, DateTime.UtcNow));
        long exit;
        bool oom;
        try
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            exit = await engine.WaitContainerAsync(id, wait.Token);
            oom = exit != 0 && await engine.WasOomKilledAsync(id, wait.Token);
        }
        catch (Exception e) when (e is ContainerEngineException or OperationCanceledException)
        {
            (exit, oom) = (-1, false);
        }
        var what = oom ? $"killed: out of memory while the model prepared (limit {limits.MemoryMiB} MiB)"
            : $"the model's process {(exit == 137 ? "was killed (signal 9)" : $"exited with code {exit}")} while it prepared";
        return (prelude, new PreparationFailure($"PreparationError: {what}", null, prelude.Log, DateTime.UtcNow));
    }

    private Task<(PreparedPrelude? Prelude, PreparationFailure? Failure)> AwaitPreparedAsync(string id, IContainerStream stream,
        ProfileLimits limits, RunnerOptions o) => AwaitPreparedAsync(engine, id, stream, limits, o);

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
        /// <summary>The last preparation failed: nothing is prepared ahead before <see cref="RetryAt"/> (or a step's success).</summary>
        public PreparationFailure? Failure { get; set; }
        public DateTime RetryAt { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not create a warm container from {Image} (profile {Profile})")]
    private partial void LogCreateFailed(Exception e, string image, string profile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove warm container {Name}; the reaper will")]
    private partial void LogRemoveFailed(Exception e, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The preparation of {Entrypoint} in {Image} failed: {Message}; no container is prepared ahead for it until a retry or a step that succeeds")]
    private partial void LogPreparationFailed(string image, string entrypoint, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording the preparation state of {Image} failed")]
    private partial void LogReportFailed(Exception e, string image);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Expiring idle warm containers failed")]
    private partial void LogExpireFailed(Exception e);
}

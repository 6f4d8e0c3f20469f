using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>
/// Runs each step as a one-off Swarm job (a replicated job, or one replica that is never restarted: <see cref="SwarmOptions.ServiceMode"/>) placed by the swarm's scheduler (Runner:Mode = swarm). Per step: its image
/// is pushed to the registry once and named by digest; the request goes in as secrets (the swarm hands them to the
/// chosen node over its TLS, into a tmpfs) that a wrapper feeds to the runtime's stdin; the job runs in the sandbox of
/// <see cref="SwarmServiceSpec"/> on its own internal overlay network (no gateway, no other member); stdout and stderr
/// come back through the manager (service logs: followed for live lines and the output cap, read whole at the end);
/// the exit code comes from the task's status. Cancel and timeout remove the service (the swarm stops its container on
/// whatever node runs it; a job's iteration is ended first, see <see cref="SwarmClient.RemoveServiceAsync"/>). The service, its secrets and its network are removed after the step. Steps wait in the same
/// <see cref="FairStepQueue"/> as local ones (<see cref="RunnerOptions.MaxConcurrentSteps"/> at once, round-robin between users).
/// </summary>
public sealed partial class SwarmStepExecutor : IStepExecutor, IAsyncDisposable
{
    private readonly SwarmClient _swarm;
    private readonly SwarmImagePublisher _publisher;
    private readonly RunnerOptions _options;
    private readonly SwarmOptions _swarmOptions;
    private readonly RunnerCapabilities _capabilities;
    private readonly ContainerTracker _tracker;
    private readonly ILogger<SwarmStepExecutor> _logger;
    private readonly FairStepQueue _queue;
    private readonly ConcurrentDictionary<Task, byte> _removals = new();

    public SwarmStepExecutor(SwarmClient swarm, SwarmImagePublisher publisher, IOptions<RunnerOptions> options, IOptions<SwarmOptions> swarmOptions,
        RunnerCapabilities capabilities, ContainerTracker tracker, ILogger<SwarmStepExecutor> logger)
    {
        _swarm = swarm;
        _publisher = publisher;
        _options = options.Value;
        _swarmOptions = swarmOptions.Value;
        _capabilities = capabilities;
        _tracker = tracker;
        _logger = logger;
        _queue = new FairStepQueue(_options.MaxConcurrentSteps, n => RunnerMetrics.QueueLength.Set(n), _options.MaxQueuedSteps);
    }

    public StepRefusal? Refusal => _queue.IsFull
        ? new StepRefusal(new StepQueueFullException(_queue.QueueLength).Message, DockerStepExecutor.QueueFullRetryAfter) : null;

    public int QueueLength => _queue.QueueLength;

    public int Running => _queue.Running;

    /// <summary>What the node's log driver keeps of a step: both caps and a margin (json-file, 2 files of this size).</summary>
    private long LogBytes => _options.MaxOutputBytes + (long)_options.MaxLogBytes + SandboxParameters.MiB;

    public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var limits = _options.Profiles.Find(request.Profile);
        if (limits is null || (limits.Gpu && !_capabilities.SupportsGpu))
        {
            if (limits is { Gpu: true }) await _capabilities.RefreshAsync(ct); // a GPU node may have joined since
            var refusal = _capabilities.CheckProfile(request.Profile);
            if (refusal is not null)
                return new StepExecutionResult(StepOutcome.Crashed, null, "", refusal, TimeSpan.Zero);
        }
        return RunnerMetrics.Record(await _queue.RunAsync(request.User, () => RunAsync(request, limits!, ct), ct));
    }

    /// <summary>What a step created on the swarm, for its removal.</summary>
    private sealed class Created
    {
        public string? NetworkId;
        public readonly List<string> SecretIds = [];
        public string? ServiceId;
    }

    private async Task<StepExecutionResult> RunAsync(StepExecutionRequest request, ProfileLimits limits, CancellationToken ct)
    {
        // A swarm step's files travel inline in its request (base64, 4/3 of their size): refuse before reading any
        // that cannot fit, rather than holding them in memory to find out.
        if (request.Files is { } inputs && inputs.Inputs.Sum(f => f.Size) * 4 / 3 > SwarmOptions.MaxRequestBytes)
            return new StepExecutionResult(StepOutcome.Crashed, null, "",
                $"the step's input files have {inputs.Inputs.Sum(f => f.Size)} bytes; in swarm mode a step's files travel inside its " +
                $"request, which takes at most {SwarmOptions.MaxRequestBytes} bytes (docs/deploy.md, \"Swarm mode\")", TimeSpan.Zero);
        var name = "feather-step-" + Guid.NewGuid().ToString("n");
        var created = new Created();
        var clock = Stopwatch.StartNew();
        var followStdout = new CappedBuffer(_options.MaxOutputBytes);
        var followStderr = new CappedBuffer(_options.MaxLogBytes);
        var lines = request.Log is null ? null : new LineSplitter(request.Log, _options.MaxLogBytes);
        using var stopFollow = new CancellationTokenSource();
        Task<bool>? follow = null;
        _tracker.Add(name);
        try
        {
            PublishedImage image;
            try
            {
                image = await _publisher.PublishAsync(request.Image, ct);
            }
            catch (ImageNotFoundException)
            {
                return new StepExecutionResult(StepOutcome.Crashed, null, "", $"image {request.Image} not found on the Docker engine", TimeSpan.Zero);
            }
            var labels = SwarmServiceSpec.OwnLabels(name, _options.InstanceId, request.Profile);
            // Not the caller's token from here to the service's creation: what is made must be known to be removed.
            using (var limit = new CancellationTokenSource(CreateTimeout))
            {
                created.NetworkId = await _swarm.CreateNetworkAsync(name, labels, limit.Token);
                // A swarm step has no file area the server can fill or read (it may run on another node): its files
                // travel inline, as protocol 1, which every runtime answers (docs/deploy.md, "Swarm mode").
                var requestJson = request.Files is { } files
                    ? await StepFileArea.ToProtocol1Async(request.RequestJson, files.Inputs, limit.Token)
                    : request.RequestJson;
                var chunks = SwarmServiceSpec.Chunks(Encoding.UTF8.GetBytes(requestJson));
                var secrets = new List<(string, string)>();
                for (var i = 0; i < chunks.Count; i++)
                {
                    var secretName = $"{name}-{i:D3}";
                    var id = await _swarm.CreateSecretAsync(secretName, chunks[i], labels, limit.Token);
                    created.SecretIds.Add(id);
                    secrets.Add((id, secretName));
                }
                var spec = new SwarmStepSpec(name, image.Reference, image.Command, request.Profile, limits, _options.InstanceId,
                    request.Labels, created.NetworkId, secrets, LogBytes, _swarmOptions, await _swarm.UseJobsAsync(limit.Token));
                created.ServiceId = await _swarm.CreateServiceAsync(SwarmServiceSpec.Create(spec), limit.Token);
            }
            ct.ThrowIfCancellationRequested();

            // Placement and start (the node pulls the image): bounded by StartTimeoutSeconds, not the step's timeout.
            var task = await WaitAsync(created.ServiceId, t => t.State is "running" || t.Terminal,
                TimeSpan.FromSeconds(_swarmOptions.StartTimeoutSeconds), ct);
            if (task is null || !(task.State == "running" || task.Terminal))
            {
                var detail = task is null ? "no task yet" : Describe(task);
                return new StepExecutionResult(StepOutcome.Crashed, null, "",
                    $"the swarm did not start the step within {_swarmOptions.StartTimeoutSeconds} s ({detail})", clock.Elapsed, name);
            }
            if (task.Terminal && task.ContainerId is null)
                return new StepExecutionResult(StepOutcome.Crashed, null, "", $"the swarm could not start the step: {Describe(task)}", clock.Elapsed, name);

            clock.Restart();
            LogStarted(name, image.Reference, request.Profile, task.NodeId ?? "?");
            if (request.Started is not null) await request.Started();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(limits.TimeoutSeconds));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token, stopFollow.Token);
            using var capHit = new CancellationTokenSource();
            follow = FollowAsync(created.ServiceId, followStdout, followStderr, lines, capHit, linked.Token);
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token, capHit.Token);
            try
            {
                task = await WaitAsync(created.ServiceId, t => t.Terminal, Timeout.InfiniteTimeSpan, ended.Token);
            }
            catch (OperationCanceledException) when (ended.IsCancellationRequested)
            {
                await KillAsync(created);
                await stopFollow.CancelAsync();
                await Quietly(follow);
                lines?.Flush();
                var logs = followStderr.ToText(atLeast: true);
                if (capHit.IsCancellationRequested)
                    return new StepExecutionResult(StepOutcome.Crashed, null, logs,
                        $"killed: output exceeded the cap of {DockerStepExecutor.FormatBytes(_options.MaxOutputBytes)}", clock.Elapsed, name);
                if (ct.IsCancellationRequested)
                    return new StepExecutionResult(StepOutcome.Cancelled, null, logs, "cancelled", clock.Elapsed, name);
                return new StepExecutionResult(StepOutcome.TimedOut, null, logs, $"timed out after {limits.TimeoutSeconds} s", clock.Elapsed, name);
            }
            var elapsed = clock.Elapsed;

            // The whole output as the node kept it (the follow may lag behind the end). A log the follow saw go past its
            // cap is not read again (the follow kept its start; the node's files may have rotated): stdout alone.
            var logCapped = followStderr.Dropped > 0;
            var stdout = new CappedBuffer(_options.MaxOutputBytes);
            var stderr = new CappedBuffer(_options.MaxLogBytes);
            using (var read = new CancellationTokenSource(CreateTimeout))
            {
                using var all = await _swarm.LogsAsync(created.ServiceId, follow: false, read.Token, stderr: !logCapped);
                if (await ReadAsync(all, stdout, stderr, null, read.Token) == ReadEnd.OutputCapped)
                    return new StepExecutionResult(StepOutcome.Crashed, null, logCapped ? followStderr.ToText(atLeast: true) : stderr.ToText(),
                        $"killed: output exceeded the cap of {DockerStepExecutor.FormatBytes(_options.MaxOutputBytes)}", elapsed, name);
            }
            await stopFollow.CancelAsync();
            await Quietly(follow);
            lines?.Flush();
            var logText = logCapped ? followStderr.ToText(atLeast: true) : stderr.ToText();
            if (task!.ExitCode is not { } exitCode)
                return new StepExecutionResult(StepOutcome.Crashed, null, logText, $"the step ended without an exit code: {Describe(task)}", elapsed, name);
            var oomKilled = false;
            if (exitCode != 0 && task.ContainerId is not null)
            {
                // Exact on the manager's own node; elsewhere the swarm reports no cause, and a SIGKILL the runner did not
                // send comes from the kernel's OOM killer of the step's memory cgroup.
                oomKilled = await _swarm.WasOomKilledAsync(task.ContainerId, CancellationToken.None) ?? exitCode == 137;
            }
            var result = DockerStepExecutor.Interpret(exitCode, oomKilled, limits, stdout, logText, elapsed) with { Container = name };
            if (request.Files is { } transfer && result.Outcome == StepOutcome.Succeeded && result.Result is { } line)
                result = await StepFileArea.CollectInlineAsync(transfer, result, line, CancellationToken.None);
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new StepExecutionResult(StepOutcome.Cancelled, null, followStderr.ToText(atLeast: true), "cancelled", clock.Elapsed, name);
        }
        catch (ArgumentException e) when (e.Message.StartsWith("the step's request", StringComparison.Ordinal))
        {
            return new StepExecutionResult(StepOutcome.Crashed, null, "", e.Message, TimeSpan.Zero);
        }
        catch (ContainerEngineException e)
        {
            LogSwarmError(e, name);
            return new StepExecutionResult(StepOutcome.Crashed, null, followStderr.ToText(atLeast: true),
                $"the swarm refused the step: {FirstLine(e.Detail.Length > 0 ? e.Detail : e.Message)}", clock.Elapsed, name);
        }
        finally
        {
            await stopFollow.CancelAsync();
            Track(RemoveThenForgetAsync(created, name, follow));
        }
    }

    private static string Describe(SwarmTask t) =>
        string.Join(": ", new[] { t.State, t.Error.Length > 0 ? t.Error : t.Message }.Where(s => s.Length > 0));

    /// <summary>Polls the service's task until <paramref name="done"/> or the deadline; returns the last task seen (null: none yet).</summary>
    private async Task<SwarmTask?> WaitAsync(string serviceId, Func<SwarmTask, bool> done, TimeSpan deadline, CancellationToken ct)
    {
        using var limit = deadline == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(deadline);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        SwarmTask? last = null;
        var delay = TimeSpan.FromMilliseconds(_swarmOptions.PollMilliseconds);
        try
        {
            while (true)
            {
                var tasks = await _swarm.TasksAsync(serviceId, linked.Token);
                // a job of one completion has one task (never restarted); the newest, should the swarm make another
                last = tasks.OrderByDescending(t => t.Terminal ? 0 : 1).FirstOrDefault() ?? last;
                if (last is not null && done(last)) return last;
                await Task.Delay(delay, linked.Token);
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return last;
        }
    }

    /// <summary>
    /// Follows the service's output: live stderr lines, and the output cap (cancels <paramref name="capHit"/>). True when
    /// the cap was hit. Once stderr is past the log cap the rest of it would only be counted and dropped, yet every byte
    /// of it would cross the node's engine, the manager and the API: the follow starts again on stdout alone (from its
    /// start, with a fresh count), which keeps a log flood from slowing the step (and the machine) down.
    /// </summary>
    private async Task<bool> FollowAsync(string serviceId, CappedBuffer stdout, CappedBuffer stderr, LineSplitter? lines,
        CancellationTokenSource capHit, CancellationToken ct)
    {
        await Task.Yield();
        try
        {
            ReadEnd end;
            using (var stream = await _swarm.LogsAsync(serviceId, follow: true, ct))
                end = await ReadAsync(stream, stdout, stderr, lines, ct, stopAtLogCap: true);
            if (end == ReadEnd.LogCapped)
            {
                using var stdoutOnly = await _swarm.LogsAsync(serviceId, follow: true, ct, stderr: false);
                end = await ReadAsync(stdoutOnly, new CappedBuffer(_options.MaxOutputBytes), stderr, null, ct);
            }
            if (end == ReadEnd.OutputCapped)
            {
                await capHit.CancelAsync();
                return true;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ContainerEngineException)
        {
        }
        return false;
    }

    private enum ReadEnd { End, OutputCapped, LogCapped }

    /// <summary>
    /// Reads a multiplexed log stream to its end (<see cref="ReadEnd.End"/>), or until stdout went past its cap
    /// (<see cref="ReadEnd.OutputCapped"/>), or with <paramref name="stopAtLogCap"/> until stderr did (<see cref="ReadEnd.LogCapped"/>).
    /// </summary>
    private static async Task<ReadEnd> ReadAsync(MultiplexedStream stream, CappedBuffer stdout, CappedBuffer stderr, LineSplitter? lines,
        CancellationToken ct, bool stopAtLogCap = false)
    {
        var buffer = new byte[81920];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, ct);
            if (read.EOF) return ReadEnd.End;
            if (read.Target == MultiplexedStream.TargetStream.StandardOut)
            {
                if (!stdout.Append(buffer.AsSpan(0, read.Count))) return ReadEnd.OutputCapped;
            }
            else
            {
                lines?.Append(buffer.AsSpan(0, read.Count));
                if (!stderr.Append(buffer.AsSpan(0, read.Count)) && stopAtLogCap) return ReadEnd.LogCapped;
            }
        }
    }

    private static async Task Quietly(Task? task)
    {
        if (task is null) return;
        try
        {
            await task;
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Stops the step: removing its service makes the swarm stop its container wherever it runs.</summary>
    private async Task KillAsync(Created created)
    {
        if (created.ServiceId is null) return;
        try
        {
            using var limit = new CancellationTokenSource(CreateTimeout);
            await _swarm.RemoveServiceAsync(created.ServiceId, limit.Token);
        }
        catch (Exception e)
        {
            LogRemoveFailed(e, created.ServiceId);
        }
    }

    private void Track(Task removal)
    {
        _removals[removal] = 0;
        _ = removal.ContinueWith(t => _removals.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>
    /// Removes the step's service, then its secrets and network (the network goes once the swarm has removed the
    /// task's container from it); the step's name stays tracked until then, so the reaper leaves them alone.
    /// </summary>
    private async Task RemoveThenForgetAsync(Created created, string name, Task? follow)
    {
        await Task.Yield();
        try
        {
            await Quietly(follow);
            await KillAsync(created);
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            foreach (var secret in created.SecretIds)
                await RetryAsync(() => _swarm.RemoveSecretAsync(secret, limit.Token), limit.Token);
            if (created.NetworkId is not null)
                await RetryAsync(() => _swarm.RemoveNetworkAsync(created.NetworkId, limit.Token), limit.Token);
        }
        catch (Exception e)
        {
            LogRemoveFailed(e, name); // the reaper removes what is left
        }
        finally
        {
            _tracker.Remove(name);
        }
    }

    /// <summary>Retries a removal the swarm refuses while the task is still winding down (secret in use, network with endpoints).</summary>
    private static async Task RetryAsync(Func<Task<bool>> remove, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                await remove();
                return;
            }
            catch (ContainerEngineException) when (!ct.IsCancellationRequested)
            {
                await Task.Delay(250, ct);
            }
        }
    }

    /// <summary>Completes when the services, secrets and networks of finished steps have been removed.</summary>
    public Task IdleAsync() => Task.WhenAll(_removals.Keys.ToArray());

    public async ValueTask DisposeAsync() => await IdleAsync();

    private static readonly TimeSpan CreateTimeout = TimeSpan.FromSeconds(60);

    private static string FirstLine(string? text) =>
        string.IsNullOrWhiteSpace(text) ? "no detail" : text.Split('\n')[0].Trim();

    [LoggerMessage(Level = LogLevel.Information, Message = "Swarm step {Name} started from {Image} (profile {Profile}) on node {Node}")]
    private partial void LogStarted(string name, string image, string profile, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The swarm refused step {Name}")]
    private partial void LogSwarmError(Exception e, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove swarm step {Name} completely; the reaper will")]
    private partial void LogRemoveFailed(Exception e, string name);
}

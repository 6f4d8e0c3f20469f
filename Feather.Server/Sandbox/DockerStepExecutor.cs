using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// Runs each step in a new hardened container: take a container created ahead of demand from the
/// <see cref="WarmContainerPool"/> (or create one), attach, start, write the request to stdin, read
/// stdout/stderr with caps under a wall-clock timeout (stderr lines go to the request's live log as they
/// arrive), read the exit, answer, and remove the container in the background. At most <see cref="RunnerOptions.MaxConcurrentSteps"/> steps run
/// at once; the rest wait in a <see cref="FairStepQueue"/> (round-robin between users).
/// </summary>
public sealed partial class DockerStepExecutor : IStepExecutor, IAsyncDisposable
{
    private readonly IContainerEngine _engine;
    private readonly ConcurrentDictionary<string, int> _protocols = new(StringComparer.Ordinal);
    private readonly RunnerOptions _options;
    private readonly RunnerCapabilities _capabilities;
    private readonly ContainerTracker _tracker;
    private readonly WarmContainerPool _pool;
    private readonly ILogger<DockerStepExecutor> _logger;
    private readonly FairStepQueue _queue;
    private readonly VersionWeights? _weights;

    public DockerStepExecutor(IContainerEngine engine, IOptions<RunnerOptions> options, RunnerCapabilities capabilities,
        ContainerTracker tracker, WarmContainerPool pool, ILogger<DockerStepExecutor> logger, VersionWeights? weights = null)
    {
        _weights = weights;
        _engine = engine;
        _options = options.Value;
        _capabilities = capabilities;
        _tracker = tracker;
        _pool = pool;
        _logger = logger;
        _queue = new FairStepQueue(_options.MaxConcurrentSteps, n => RunnerMetrics.QueueLength.Set(n), _options.MaxQueuedSteps);
    }

    /// <summary>How long a client refused by a full queue is told to wait (Retry-After).</summary>
    public static readonly TimeSpan QueueFullRetryAfter = TimeSpan.FromSeconds(10);

    public StepRefusal? Refusal => _queue.IsFull ? new StepRefusal(new StepQueueFullException(_queue.QueueLength).Message, QueueFullRetryAfter) : null;

    /// <summary>Steps waiting for a free slot.</summary>
    public int QueueLength => _queue.QueueLength;

    /// <summary>Steps holding a slot (running, or starting their container).</summary>
    public int Running => _queue.Running;

    public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var limits = _options.Profiles.Find(request.Profile);
        if (limits is null || (limits.Gpu && !_capabilities.SupportsGpu))
        {
            if (limits is { Gpu: true } && !_capabilities.Probed)
                await _capabilities.RefreshAsync(ct);
            var refusal = _capabilities.CheckProfile(request.Profile);
            if (refusal is not null)
                return new StepExecutionResult(StepOutcome.Crashed, null, "", refusal, TimeSpan.Zero);
        }

        if (request.Entrypoint is not null && !await CanPrepareAsync(request.Image, ct))
            request = request with { Entrypoint = null };

        return RunnerMetrics.Record(await _queue.RunAsync(request.User, () => RunAsync(request, limits!, ct), ct));
    }

    /// <summary>The label a runner image carries when its runtime prepares before its request (FEATHER_ENTRYPOINT).</summary>
    public const string PrepareLabel = "org.feather.runtime.prepare";

    private readonly ConcurrentDictionary<string, bool> _canPrepare = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the image's runtime can prepare ahead of its request. A version image built on an older runner
    /// image lacks <see cref="PrepareLabel"/>: its runtime reads the request at once and would never say it is
    /// prepared, so its steps run the way they always did (import, prepare and answer inside the step).
    /// </summary>
    private async Task<bool> CanPrepareAsync(string image, CancellationToken ct)
    {
        if (_canPrepare.TryGetValue(image, out var known)) return known;
        IReadOnlyDictionary<string, string>? labels;
        try
        {
            labels = await _engine.ImageLabelsAsync(image, ct);
        }
        catch (ContainerEngineException e)
        {
            _logger.LogWarning("Could not read the labels of {Image}: {Error}", image, e.Message);
            return false;
        }
        if (labels is null) return false; // no such image: the create below reports it
        var can = labels.TryGetValue(PrepareLabel, out var value) && value == "1";
        if (_canPrepare.Count > 10_000) _canPrepare.Clear();
        _canPrepare[image] = can;
        if (!can) _logger.LogInformation("{Image} was built on a runner image without prepared containers; its steps prepare in their own container", image);
        return can;
    }

    /// <summary>A container for the step: a warm one from the pool when one is ready, else a new one.</summary>
    private async Task<(string Id, string Name, bool Warm, IContainerStream? Prepared, PreparedPrelude? Prelude)> ObtainAsync(
        StepExecutionRequest request, ProfileLimits limits, bool allowWarm, CancellationToken ct)
    {
        if (allowWarm && _pool.Take(request.Image, request.Profile, limits, request.Entrypoint) is { } warm)
            return (warm.Id, warm.Name, true, warm.Stream, warm.Prelude);
        var name = "feather-step-" + Guid.NewGuid().ToString("n");
        var binds = _weights is null ? null : await _weights.BindsAsync(request.Image, ct);
        // With an entrypoint the step's own container prepares too (FEATHER_ENTRYPOINT) before its request is sent.
        var spec = new SandboxSpec(name, request.Image, request.Profile, limits, _options.InstanceId, request.Labels,
            request.Entrypoint is { } entrypoint ? new Dictionary<string, string> { ["FEATHER_ENTRYPOINT"] = entrypoint } : null, binds);
        _tracker.Add(name);
        try
        {
            // Not the caller's token: a create cancelled mid-request can still make the container, and its id
            // is needed to remove it. The caller's cancellation is honoured right after.
            using var limit = new CancellationTokenSource(CleanupTimeout);
            var id = await _engine.CreateContainerAsync(spec, limit.Token);
            return (id, name, false, null, null);
        }
        catch
        {
            _tracker.Remove(name);
            throw;
        }
    }

    private async Task<StepExecutionResult> RunAsync(StepExecutionRequest request, ProfileLimits limits, CancellationToken ct)
    {
        var maxOutput = request.MaxOutputBytes ?? _options.MaxOutputBytes;
        var timeoutSeconds = request.TimeoutSeconds ?? limits.TimeoutSeconds;
        var stdout = new CappedBuffer(maxOutput);
        var stderr = new CappedBuffer(_options.MaxLogBytes);
        var lines = request.Log is null ? null : new LineSplitter(request.Log, _options.MaxLogBytes);
        var outputLines = request.Output is null ? null : new LineSplitter(request.Output, maxOutput);
        var clock = Stopwatch.StartNew();
        string? id = null, name = null;
        var preparedHere = false; // this step's own container prepared the model (no ready one was taken)
        PreparationFailure? failedPreparation = null; // its preparation failed, with a status line: reported at the end
        PreparedPrelude? prelude = null;
        using var timeout = new CancellationTokenSource(); // armed when the request is sent (after any preparation)
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            IContainerStream? stream;
            bool warm;
            (id, name, warm, stream, prelude) = await ObtainAsync(request, limits, allowWarm: true, ct);
            if (stream is not null && ct.IsCancellationRequested) stream.Dispose();
            ct.ThrowIfCancellationRequested();
            if (stream is null)
            {
                try
                {
                    stream = await _engine.AttachAsync(id, ct);
                }
                catch (ContainerNotFoundException) when (warm)
                {
                    // The warm container went away (removed by hand or by the engine): create a fresh one.
                    _tracker.Remove(name);
                    (id, name, warm, _, _) = await ObtainAsync(request, limits, allowWarm: false, ct);
                    ct.ThrowIfCancellationRequested();
                    stream = await _engine.AttachAsync(id, ct);
                }
                await _engine.StartContainerAsync(id, ct);
                if (request.Entrypoint is not null)
                {
                    // The model prepares before its request, as in a prepared container: its memory limit applies, the
                    // step's timeout does not (Runner:PreparationTimeoutSeconds bounds it).
                    preparedHere = true;
                    if (request.Started is not null) await request.Started();
                    PreparationFailure? failure;
                    (prelude, failure) = await WarmContainerPool.AwaitPreparedAsync(_engine, id, stream, limits, _options, ct);
                    ct.ThrowIfCancellationRequested();
                    if (prelude is null || prelude.Status is null)
                    {
                        // It died, stalled or wrote no status before its request: the step ends with the preparation's failure.
                        stream.Dispose();
                        await KillAsync(id);
                        _pool.ReportPreparation(request.Image, request.Profile, request.Entrypoint, failure);
                        var outcome = failure!.Message.Contains("out of memory", StringComparison.Ordinal) ? StepOutcome.OutOfMemory
                            : prelude is null ? StepOutcome.TimedOut : StepOutcome.Crashed;
                        return new StepExecutionResult(outcome, null, failure.Log, failure.Message, clock.Elapsed, name);
                    }
                    // reported once the step has read its output: the log then holds all the model wrote while it
                    // prepared (stderr lines can arrive after the status line)
                    failedPreparation = failure;
                }
            }
            if (prelude is not null)
            {
                // What the model wrote while it prepared starts the step's log.
                stderr.Append(prelude.Stderr);
                lines?.Append(prelude.Stderr);
                stdout.Append(prelude.Stdout);
            }
            // A prepared container is already running (its model imported and prepared, blocked on stdin): the
            // step's time starts when its request is sent; the preparation counted against its memory only.
            using var attached = stream;
            var requestJson = request.RequestJson;
            if (request.Files is { } files)
            {
                if (await RuntimeProtocolAsync(request.Image, ct) >= 2) await StepFileArea.DeliverAsync(_engine, id, files.Inputs, ct);
                else requestJson = await StepFileArea.ToProtocol1Async(requestJson, files.Inputs, ct); // a runtime from before step files
            }
            clock.Restart();
            timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
            LogStarted(name, request.Image, request.Profile, warm);
            if (request.Started is not null && !preparedHere) await request.Started();

            var outputCapHit = false;
            try
            {
                var requestBytes = Encoding.UTF8.GetBytes(requestJson);
                var write = WriteStdinAsync(stream, requestBytes, linked.Token);
                outputCapHit = await ReadOutputAsync(stream, stdout, stderr, lines, outputLines, linked.Token);
                await write;
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && linked.IsCancellationRequested)
            {
                stream.Dispose();
                await KillAsync(id);
                lines?.Flush();
                var logs = stderr.ToText();
                if (ct.IsCancellationRequested)
                    return new StepExecutionResult(StepOutcome.Cancelled, null, logs, "cancelled", clock.Elapsed, name);
                return new StepExecutionResult(StepOutcome.TimedOut, null, logs, $"timed out after {timeoutSeconds} s", clock.Elapsed, name);
            }
            lines?.Flush();

            if (outputCapHit)
            {
                stream.Dispose();
                await KillAsync(id);
                return new StepExecutionResult(StepOutcome.Crashed, null, stderr.ToText(),
                    $"killed: output exceeded the cap of {FormatBytes(maxOutput)}", clock.Elapsed, name);
            }

            using var waitTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var exitCode = await _engine.WaitContainerAsync(id, waitTimeout.Token);
            var elapsed = clock.Elapsed;
            // The exit code alone tells a clean exit; only a failed one needs the state (out of memory?).
            var oomKilled = exitCode != 0 && await _engine.WasOomKilledAsync(id, CancellationToken.None);
            var result = Interpret(exitCode, oomKilled, limits, stdout, stderr.ToText(), elapsed) with { Container = name };
            if (preparedHere && prelude is { Ok: true } && result.Outcome is StepOutcome.Succeeded or StepOutcome.Failed or StepOutcome.InvalidInput)
                _pool.ReportPreparation(request.Image, request.Profile, request.Entrypoint!, null); // it prepared: the pool may again
            if (result is { Outcome: StepOutcome.Succeeded, Result: { } line } && request.Files is { } transfer)
                result = await StepFileArea.CollectAsync(_engine, id, transfer, result, line, ct);
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (id is not null) await KillAsync(id);
            return new StepExecutionResult(StepOutcome.Cancelled, null, stderr.ToText(), "cancelled", clock.Elapsed, name);
        }
        catch (ImageNotFoundException)
        {
            return new StepExecutionResult(StepOutcome.Crashed, null, "", $"image {request.Image} not found on the Docker engine", TimeSpan.Zero);
        }
        catch (WeightsUnavailableException e)
        {
            return new StepExecutionResult(StepOutcome.Crashed, null, "", e.Message, clock.Elapsed);
        }
        catch (ContainerEngineException e)
        {
            LogDockerError(e, name ?? request.Image);
            return new StepExecutionResult(StepOutcome.Crashed, null, stderr.ToText(), $"the Docker engine refused the step: {FirstLine(e.Detail)}", clock.Elapsed, name);
        }
        finally
        {
            if (failedPreparation is not null)
                _pool.ReportPreparation(request.Image, request.Profile, request.Entrypoint!, failedPreparation with { Log = stderr.ToText() });
            // The outcome is known: answer now and remove the container in the background (IdleAsync and
            // disposal wait for it; its name stays tracked until it is gone, so the reaper leaves it alone).
            if (id is not null) Track(RemoveThenForgetAsync(id, name!));
            else if (name is not null) _tracker.Remove(name);
        }
    }

    private readonly ConcurrentDictionary<Task, byte> _removals = new();

    private void Track(Task removal)
    {
        _removals[removal] = 0;
        _ = removal.ContinueWith(t => _removals.TryRemove(t, out _), TaskScheduler.Default);
    }

    private async Task RemoveThenForgetAsync(string id, string name)
    {
        await Task.Yield();
        try
        {
            await RemoveAsync(id);
        }
        finally
        {
            _tracker.Remove(name);
        }
    }

    /// <summary>Completes when the containers of finished steps have been removed.</summary>
    public Task IdleAsync() => Task.WhenAll(_removals.Keys.ToArray());

    public async ValueTask DisposeAsync() => await IdleAsync();

    private static async Task WriteStdinAsync(IContainerStream stream, byte[] bytes, CancellationToken ct)
    {
        try
        {
            await stream.WriteInputAsync(bytes, ct);
        }
        catch (IOException) when (!ct.IsCancellationRequested)
        {
            // The process exited without reading all of its input; its exit state tells what happened.
        }
    }

    /// <summary>Reads the multiplexed stream to its end. True when stdout went past its cap.</summary>
    private static async Task<bool> ReadOutputAsync(IContainerStream stream, CappedBuffer stdout, CappedBuffer stderr, LineSplitter? lines,
        LineSplitter? outputLines, CancellationToken ct)
    {
        var buffer = new byte[81920];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, ct);
            if (read.End)
            {
                outputLines?.Flush();
                return false;
            }
            if (read.IsStdout)
            {
                if (!stdout.Append(buffer.AsSpan(0, read.Count))) return true;
                outputLines?.Append(buffer.AsSpan(0, read.Count));
            }
            else
            {
                stderr.Append(buffer.AsSpan(0, read.Count));
                lines?.Append(buffer.AsSpan(0, read.Count));
            }
        }
    }

    internal static StepExecutionResult Interpret(long exitCode, bool oomKilled, ProfileLimits limits, CappedBuffer stdout, string logs, TimeSpan elapsed)
    {
        if (oomKilled)
            return new StepExecutionResult(StepOutcome.OutOfMemory, null, logs, $"killed: out of memory (limit {limits.MemoryMiB} MiB)", elapsed);
        if (exitCode != 0)
        {
            var reason = exitCode == 137 ? "killed (signal 9)" : $"exited with code {exitCode}";
            return new StepExecutionResult(StepOutcome.Crashed, null, logs, $"the step's process {reason} without a result", elapsed);
        }
        var line = LastLine(stdout.ToText());
        if (line is null)
            return new StepExecutionResult(StepOutcome.Crashed, null, logs, "the step ended without a result line", elapsed);
        JsonElement result;
        try
        {
            using var doc = JsonDocument.Parse(line);
            result = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return new StepExecutionResult(StepOutcome.Crashed, null, logs, "the step's last output line is not JSON", elapsed);
        }
        if (result.ValueKind != JsonValueKind.Object
            || !result.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "result"
            || !result.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.String)
            return new StepExecutionResult(StepOutcome.Crashed, null, logs, "the step's last output line is not a result event", elapsed);
        return status.GetString() switch
        {
            "succeeded" => new StepExecutionResult(StepOutcome.Succeeded, result, logs, "succeeded", elapsed),
            "failed" => new StepExecutionResult(StepOutcome.Failed, result, logs, DescribeError(result, "failed"), elapsed),
            "invalid_input" => new StepExecutionResult(StepOutcome.InvalidInput, result, logs, DescribeError(result, "invalid input"), elapsed),
            var other => new StepExecutionResult(StepOutcome.Crashed, result, logs, $"the step reported an unknown status '{other}'", elapsed),
        };
    }

    private static string DescribeError(JsonElement result, string fallback)
    {
        if (!result.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object) return fallback;
        var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        if (error.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.String)
            return $"invalid input '{input.GetString()}': {message}";
        if (error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String)
            return $"{t.GetString()}: {message}";
        return message ?? fallback;
    }

    private static string? LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? null : lines[^1];
    }

    private async Task KillAsync(string id)
    {
        try
        {
            // Not the caller's token: cleanup must happen even when the step was cancelled.
            using var limit = new CancellationTokenSource(CleanupTimeout);
            await _engine.KillContainerAsync(id, limit.Token);
        }
        catch (ContainerEngineException)
        {
            // already stopped
        }
        catch (OperationCanceledException e)
        {
            LogKillSlow(e, id); // removal below forces it
        }
    }

    private async Task RemoveAsync(string id)
    {
        try
        {
            using var limit = new CancellationTokenSource(CleanupTimeout);
            await _engine.RemoveContainerAsync(id, limit.Token);
        }
        catch (ContainerNotFoundException)
        {
        }
        catch (Exception e)
        {
            // The reaper removes it later; the step's outcome stands.
            LogRemoveFailed(e, id);
        }
    }

    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);

    internal static string FormatBytes(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB"
        : bytes % 1024 == 0 ? $"{bytes / 1024} KiB"
        : $"{bytes} bytes";

    private static string FirstLine(string? text) =>
        string.IsNullOrWhiteSpace(text) ? "no detail" : text.Split('\n')[0].Trim();

    /// <summary>
    /// The runtime protocol the image's SDK speaks: its <see cref="StepFileArea.ProtocolLabel"/> label, 1 without it
    /// (a version image built on a runner from before step files). Asked once per image.
    /// </summary>
    private async Task<int> RuntimeProtocolAsync(string image, CancellationToken ct)
    {
        if (_protocols.TryGetValue(image, out var known)) return known;
        IReadOnlyDictionary<string, string>? labels;
        try
        {
            labels = await _engine.ImageLabelsAsync(image, ct);
        }
        catch (ContainerEngineException e)
        {
            // every runtime answers protocol 1: the safe choice when the image cannot be asked (not remembered)
            _logger.LogWarning("Could not read the labels of {Image}: {Error}", image, e.Message);
            return 1;
        }
        var protocol = labels is not null && labels.TryGetValue(StepFileArea.ProtocolLabel, out var value) && int.TryParse(value, out var n) ? n : 1;
        if (protocol < 2) LogOldRuntime(image, protocol);
        if (_protocols.Count > 10_000) _protocols.Clear();
        return _protocols[image] = protocol;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Image {Image} speaks runtime protocol {Protocol}: its steps get their files inline (base64), as before step files; rebuild it on the current runner to stream them")]
    private partial void LogOldRuntime(string image, int protocol);

    [LoggerMessage(Level = LogLevel.Information, Message = "Step container {Name} started from {Image} (profile {Profile}, warm {Warm})")]
    private partial void LogStarted(string name, string image, string profile, bool warm);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Docker refused step container {Name}")]
    private partial void LogDockerError(Exception e, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Killing container {Id} took too long")]
    private partial void LogKillSlow(Exception e, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove container {Id}; the reaper will")]
    private partial void LogRemoveFailed(Exception e, string id);
}

/// <summary>Collects bytes up to a cap; counts what went beyond it.</summary>
internal sealed class CappedBuffer(int cap)
{
    private readonly MemoryStream _bytes = new();

    public long Dropped { get; private set; }

    /// <summary>False once the cap is exceeded (the part that fits is kept).</summary>
    public bool Append(ReadOnlySpan<byte> data)
    {
        var room = (int)Math.Max(0, cap - _bytes.Length);
        _bytes.Write(data[..Math.Min(room, data.Length)]);
        Dropped += Math.Max(0, data.Length - room);
        return Dropped == 0;
    }

    /// <summary>The kept bytes, and a line saying how many were dropped (<paramref name="atLeast"/>: a lower bound, the rest was not read).</summary>
    public string ToText(bool atLeast = false)
    {
        var text = Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
        return Dropped == 0 ? text
            : text + $"\n[log truncated: {(atLeast ? "at least " : "")}{Dropped} bytes beyond the {DockerStepExecutor.FormatBytes(cap)} cap dropped]\n";
    }
}

/// <summary>
/// Turns stderr chunks into lines for the live log: each complete line (without its newline) is reported
/// once; reporting stops at the log cap, as the stored log does.
/// </summary>
internal sealed class LineSplitter(IProgress<string> sink, int cap)
{
    private readonly MemoryStream _partial = new();
    private long _seen;
    private bool _capped;

    public void Append(ReadOnlySpan<byte> data)
    {
        if (_capped) return;
        var room = (int)Math.Max(0, cap - _seen);
        var take = data[..Math.Min(room, data.Length)];
        _seen += take.Length;
        while (take.IndexOf((byte)'\n') is var nl and >= 0)
        {
            _partial.Write(take[..nl]);
            Emit();
            take = take[(nl + 1)..];
        }
        _partial.Write(take);
        if (data.Length > room)
        {
            Flush();
            sink.Report($"[log truncated at the {DockerStepExecutor.FormatBytes(cap)} cap]");
            _capped = true;
        }
    }

    /// <summary>Reports what is left after the last newline (the end of the stream).</summary>
    public void Flush()
    {
        if (_partial.Length > 0) Emit();
    }

    private void Emit()
    {
        var line = Encoding.UTF8.GetString(_partial.GetBuffer(), 0, (int)_partial.Length).TrimEnd('\r');
        _partial.SetLength(0);
        sink.Report(line);
    }
}

using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Feather.Server.Publishing;
using Feather.Server.Sandbox;
using Feather.Server.Storage;

namespace Feather.Server.Runs;

/// <summary>
/// Multi-step runs: validates a step submission against the version's metadata and the run's
/// state, builds the runtime request (contracts.md section 3) with <c>previous</c> taken from the
/// stored outputs of the step before, and runs it through <see cref="IStepExecutor"/>.
/// </summary>
/// <param name="executor">Null on a host without a runner: steps are then refused (503).</param>
/// <param name="profiles">What the runner can run (null: every profile).</param>
public sealed class RunService(FeatherDb db, ModelStore store, FeatherOptions options, ImageBuildQueue builds, StepEvents events,
    IHostApplicationLifetime lifetime, Microsoft.Extensions.Options.IOptions<Sandbox.RunnerOptions> runner, ILogger<RunService> logger,
    StepFiles files, IStepExecutor? executor = null, IProfilePolicy? profiles = null)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();
    private readonly ConcurrentDictionary<(string Run, int Step), (CancellationTokenSource Cancel, Task<RunStepRecord> Done)> _active = new();

    public RunRecord? Find(string id) => db.Runs.FindById(id);

    public IEnumerable<RunRecord> ByUser(string username) =>
        db.Runs.Find(r => r.CreatedBy == username).OrderByDescending(r => r.CreatedAt);

    public RunRecord Create(ModelRecord model, VersionRecord version, string? createdBy)
    {
        using var metadata = JsonDocument.Parse(version.MetadataJson);
        var steps = metadata.RootElement.GetProperty("steps").EnumerateArray()
            .Select((s, i) => new RunStepRecord
            {
                Index = i, Name = s.GetProperty("name").GetString()!,
                Status = i == 0 ? StepStatus.AwaitingInput : StepStatus.Pending,
            }).ToList();
        var run = new RunRecord
        {
            Id = Ids.New(), ModelId = model.Id, Owner = model.Owner, Model = model.Name, Version = version.Number,
            CreatedBy = createdBy, CreatedAt = DateTime.UtcNow, Steps = steps,
        };
        db.Runs.Insert(run);
        return run;
    }

    /// <summary>Queues step <paramref name="index"/>, or says why it cannot run now.</summary>
    public async Task<SubmitResult> SubmitAsync(string runId, int index, JsonElement responses, CancellationToken ct)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var run = Find(runId)!;
            if (index < 0 || index >= run.Steps.Count)
                return new SubmitResult.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
            var step = run.Steps[index];

            if (responses.ValueKind != JsonValueKind.Object)
                return new SubmitResult.BadRequest(index, $"step {index} ({step.Name}): 'responses' must be an object keyed by input name");
            var version = store.FindVersion(run.ModelId, run.Version)!;
            using var metadata = JsonDocument.Parse(version.MetadataJson);

            if (index > 0 && run.Steps[index - 1].Status != StepStatus.Succeeded)
                return new SubmitResult.Conflict(index,
                    $"step {index - 1} ({run.Steps[index - 1].Name}) is {run.Steps[index - 1].Status}; it must succeed before step {index}");
            if (run.Steps.Skip(index).FirstOrDefault(s => StepStatus.IsActive(s.Status)) is { } busy)
                return new SubmitResult.Conflict(index, $"step {busy.Index} ({busy.Name}) is {busy.Status}; wait for it to finish");
            // Every response against the metadata and what step index-1 actually offered (StepInputValidator).
            using var previous = index == 0 || run.Steps[index - 1].OutputsJson is not { } offered ? null : JsonDocument.Parse(offered);
            // Files are checked by reference (StepFiles): the schemas see them as inline data of no bytes.
            var (checkedResponses, fileErrors) = files.Inspect(runId, responses);
            if (fileErrors.Count > 0)
                return new SubmitResult.InvalidInput(index, step.Name, fileErrors);
            if (StepInputValidator.Validate(metadata.RootElement, index, checkedResponses, previous?.RootElement, options.MaxStepFileBytes) is { Count: > 0 } invalid)
                return new SubmitResult.InvalidInput(index, step.Name, invalid);
            if (executor is null)
                return new SubmitResult.Unavailable("this server has no step executor (the Docker runner is not configured)");
            if (executor.Refusal is { } full)
                return new SubmitResult.Unavailable(full.Message, full.RetryAfter);
            if (profiles?.Refuse(version.Environment.Profile) is { } refusal)
                return new SubmitResult.Conflict(index,
                    $"{run.Owner}/{run.Model} version {run.Version} needs the '{version.Environment.Profile}' profile: {refusal}");
            if (version.ImageStatus == ImageStatus.Removed)
            {
                // The files of every version are kept, so an image the retention policy removed is built again.
                version.ImageStatus = ImageStatus.Pending;
                version.ImageError = null;
                store.SaveVersion(version);
                builds.Enqueue(version.Id);
                return new SubmitResult.Conflict(index,
                    $"the image of {run.Owner}/{run.Model} version {run.Version} was removed by the image retention policy and is being built again; try again when it is ready",
                    ImageStatus.Pending);
            }
            if (version.ImageStatus != ImageStatus.Ready || version.VersionImage is null)
                return new SubmitResult.Conflict(index,
                    $"the image of {run.Owner}/{run.Model} version {run.Version} is {version.ImageStatus}" +
                    (version.ImageError is null ? "; try again when it is ready" : $": {version.ImageError}"),
                    version.ImageStatus);

            var storedResponses = await files.StoreAsync(runId, responses, ct);
            step.Status = StepStatus.Queued;
            step.ResponsesJson = storedResponses.ToJsonString();
            step.OutputsJson = step.ErrorJson = step.Message = null;
            step.Logs = "";
            step.QueuedAt = DateTime.UtcNow;
            step.StartedAt = step.EndedAt = null;
            foreach (var later in run.Steps.Skip(index + 1))
                later.Status = later.Status is StepStatus.Pending or StepStatus.AwaitingInput ? StepStatus.Pending : StepStatus.Stale;
            db.Runs.Update(run);
            foreach (var changed in run.Steps.Skip(index)) events.Publish(run.Id, changed);

            var inputFiles = new List<StepInputFile>();
            var request = new JsonObject
            {
                ["protocol"] = 2,
                ["entrypoint"] = metadata.RootElement.GetProperty("entrypoint").GetString(),
                ["step"] = index,
                ["files"] = SandboxParameters.FilesDirectory,
                ["responses"] = files.ForRuntime(runId, storedResponses, inputFiles),
                ["previous"] = index == 0 ? null : files.ForRuntime(runId, JsonNode.Parse(run.Steps[index - 1].OutputsJson ?? "null"), inputFiles),
            };
            var execution = new StepExecutionRequest(version.VersionImage, version.Environment.Profile, request.ToJsonString(),
                new Dictionary<string, string>
                {
                    ["feather.run"] = run.Id, ["feather.step"] = index.ToString(),
                    ["feather.model"] = $"{run.Owner}/{run.Model}", ["feather.version"] = run.Version.ToString(),
                }, User: run.CreatedBy,
                Entrypoint: runner.Value.PrepareContainers ? metadata.RootElement.GetProperty("entrypoint").GetString() : null,
                Files: new StepFileTransfer(inputFiles, (line, source, token) => files.CollectOutputsAsync(runId, line, source, token)));
            var cancel = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            var done = Task.Run(() => ExecuteAsync(executor, run.Id, index, execution, cancel.Token), CancellationToken.None);
            _active[(run.Id, index)] = (cancel, done);
            _ = done.ContinueWith(_ =>
            {
                _active.TryRemove((runId, index), out var _);
                cancel.Dispose();
            }, TaskScheduler.Default);
            return new SubmitResult.Queued(step.ToView(), done);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Follows step <paramref name="index"/> of a run (which must exist): its state now, then each stored
    /// change, pushed as it happens. Taken under the run's lock, so no change falls between the two.
    /// </summary>
    public async Task<StepSubscription> FollowAsync(string runId, int index, CancellationToken ct)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            return events.Subscribe(runId, index, Find(runId)!.Steps[index].ToView());
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Cancels a queued or running step; returns its task (null when it is not active in this process).</summary>
    public Task<RunStepRecord>? Cancel(string runId, int index)
    {
        if (!_active.TryGetValue((runId, index), out var active)) return null;
        try { active.Cancel.Cancel(); } catch (ObjectDisposedException) { }
        return active.Done;
    }

    private async Task<RunStepRecord> ExecuteAsync(IStepExecutor executor, string runId, int index, StepExecutionRequest request,
        CancellationToken ct)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object>
        {
            ["RunId"] = runId, ["Step"] = index, ["Model"] = request.Labels["feather.model"],
        });
        StepExecutionResult result;
        try
        {
            ct.ThrowIfCancellationRequested();
            // stderr lines are stored as they arrive (a few writes a second), so events and polling see live logs
            var live = new LiveStepLog(text => Update(runId, index, s => s.Logs = text), TimeSpan.FromMilliseconds(250));
            try
            {
                // the step stays queued until the runner's queue lets it start
                result = await executor.ExecuteAsync(request with
                {
                    Log = live,
                    Started = () => Update(runId, index, s => { s.Status = StepStatus.Running; s.StartedAt = DateTime.UtcNow; }),
                }, ct);
            }
            finally
            {
                await live.CompleteAsync();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            result = new StepExecutionResult(StepOutcome.Cancelled, null, "",
                lifetime.ApplicationStopping.IsCancellationRequested ? "cancelled: the server is stopping" : "cancelled by request", TimeSpan.Zero);
        }
        catch (Exception e)
        {
            logger.LogError(e, "The step executor failed");
            result = new StepExecutionResult(StepOutcome.Crashed, null, "", $"the runner failed: {e.Message}", TimeSpan.Zero);
        }
        logger.LogInformation("Step finished: {Outcome} ({Message}) in {Seconds:F2} s", result.Outcome, result.Message, result.Duration.TotalSeconds);

        return await Update(runId, index, s =>
        {
            s.EndedAt = DateTime.UtcNow;
            s.Logs = result.Logs;
            s.Message = result.Message;
            var body = result.Result;
            switch (result.Outcome)
            {
                case StepOutcome.Succeeded when body is { } ok && ok.TryGetProperty("outputs", out var outputs):
                    s.Status = StepStatus.Succeeded;
                    s.OutputsJson = outputs.GetRawText();
                    break;
                case StepOutcome.Succeeded:
                    s.Status = StepStatus.Failed;
                    s.ErrorJson = Error("protocol_error", "the runtime reported success without outputs");
                    break;
                case StepOutcome.Failed or StepOutcome.InvalidInput when body is { } r && r.TryGetProperty("error", out var error):
                    s.Status = result.Outcome == StepOutcome.Failed ? StepStatus.Failed : StepStatus.InvalidInput;
                    s.ErrorJson = error.GetRawText();
                    break;
                case StepOutcome.TimedOut:
                    s.Status = StepStatus.TimedOut;
                    s.ErrorJson = Error("timed_out", result.Message);
                    break;
                case StepOutcome.Cancelled:
                    s.Status = StepStatus.Cancelled;
                    s.ErrorJson = Error("cancelled", result.Message);
                    break;
                default:
                    s.Status = result.Outcome == StepOutcome.InvalidInput ? StepStatus.InvalidInput : StepStatus.Failed;
                    s.ErrorJson = Error(JsonNamingPolicy.SnakeCaseLower.ConvertName(result.Outcome.ToString()), result.Message);
                    break;
            }
        }, next => next.Status == StepStatus.Pending ? StepStatus.AwaitingInput : next.Status);
    }

    private static string Error(string type, string message) =>
        new JsonObject { ["type"] = type, ["message"] = message }.ToJsonString();

    private async Task<RunStepRecord> Update(string runId, int index, Action<RunStepRecord> change, Func<RunStepRecord, string>? nextOnSuccess = null)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            var run = Find(runId)!;
            var step = run.Steps[index];
            change(step);
            var next = nextOnSuccess is not null && step.Status == StepStatus.Succeeded && index + 1 < run.Steps.Count ? run.Steps[index + 1] : null;
            if (next is not null) next.Status = nextOnSuccess!(next);
            db.Runs.Update(run);
            events.Publish(runId, step);
            if (next is not null) events.Publish(runId, next);
            return step;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Steps that were queued or running when the server stopped cannot finish: say so, so they can be submitted again.</summary>
    public int MarkInterrupted()
    {
        var count = 0;
        foreach (var run in db.Runs.FindAll().ToList())
        {
            var changed = false;
            foreach (var step in run.Steps.Where(s => StepStatus.IsActive(s.Status)))
            {
                step.ErrorJson = Error("interrupted", $"the server stopped while this step was {step.Status}; submit it again");
                step.Message = "interrupted by a server restart";
                step.Status = StepStatus.Failed;
                step.EndedAt = DateTime.UtcNow;
                changed = true;
                count++;
            }
            if (changed) db.Runs.Update(run);
        }
        return count;
    }
}

internal sealed class RunRecovery(RunService runs, ILogger<RunRecovery> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        var count = runs.MarkInterrupted();
        if (count > 0) logger.LogWarning("Marked {Count} step(s) interrupted by the last shutdown as failed", count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

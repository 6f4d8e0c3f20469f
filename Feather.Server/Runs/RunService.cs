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
    IHostApplicationLifetime lifetime, Microsoft.Extensions.Options.IOptions<Sandbox.RunnerOptions> runner, ILogger<RunService> logger, IStepExecutor? executor = null, IProfilePolicy? profiles = null,
    IEnumerable<IStepAdmission>? admissions = null, IEnumerable<IStepObserver>? observers = null)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();
    private readonly ConcurrentDictionary<(string Run, int Step), (CancellationTokenSource Cancel, Task<RunStepRecord> Done)> _active = new();

    public RunRecord? Find(string id) => db.Runs.FindById(id);

    public IEnumerable<RunRecord> ByUser(string username) =>
        db.Runs.Find(r => r.CreatedBy == username).OrderByDescending(r => r.CreatedAt);

    public RunRecord Create(ModelRecord model, VersionRecord version, string? createdBy)
    {
        using var metadata = JsonDocument.Parse(version.MetadataJson);
        var graph = RunGraph.From(metadata.RootElement);
        // A linear run lists every step up front; a graph's path holds its first step, and grows as steps succeed.
        var steps = graph.Linear
            ? metadata.RootElement.GetProperty("steps").EnumerateArray()
                .Select((s, i) => new RunStepRecord
                {
                    Index = i, Name = s.GetProperty("name").GetString()!,
                    Status = i == 0 ? StepStatus.AwaitingInput : StepStatus.Pending,
                }).ToList()
            : [new RunStepRecord { Index = 0, Name = graph.Start, Status = StepStatus.AwaitingInput }];
        var run = new RunRecord
        {
            Id = Ids.New(), ModelId = model.Id, Owner = model.Owner, Model = model.Name, Version = version.Number,
            CreatedBy = createdBy, CreatedAt = DateTime.UtcNow, Steps = steps,
        };
        db.Runs.Insert(run);
        return run;
    }

    /// <summary>
    /// Queues the step at position <paramref name="index"/> of the run's path, or says why it cannot run now.
    /// <paramref name="stepName"/> chooses among the steps the previous one offers (default: the one already there).
    /// </summary>
    public async Task<SubmitResult> SubmitAsync(string runId, int index, JsonElement responses, CancellationToken ct, string? stepName = null)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var run = Find(runId)!;
            var version = store.FindVersion(run.ModelId, run.Version)!;
            using var metadata = JsonDocument.Parse(version.MetadataJson);
            var graph = RunGraph.From(metadata.RootElement);
            if (index < 0 || index > run.Steps.Count || (index == run.Steps.Count && (graph.Linear || index == 0)))
                return new SubmitResult.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
            var name = stepName ?? (index < run.Steps.Count ? run.Steps[index].Name : null);
            var shown = name ?? "?";

            if (responses.ValueKind != JsonValueKind.Object)
                return new SubmitResult.BadRequest(index, $"step {index} ({shown}): 'responses' must be an object keyed by input name");

            if (index > 0 && run.Steps[index - 1].Status != StepStatus.Succeeded)
                return new SubmitResult.Conflict(index,
                    $"step {index - 1} ({run.Steps[index - 1].Name}) is {run.Steps[index - 1].Status}; it must succeed before step {index}");
            if (run.Steps.Skip(index).FirstOrDefault(s => StepStatus.IsActive(s.Status)) is { } busy)
                return new SubmitResult.Conflict(index, $"step {busy.Index} ({busy.Name}) is {busy.Status}; wait for it to finish");
            if (NotOnPath(graph, run, index, name) is { } offPath)
                return new SubmitResult.Conflict(index, offPath);
            var stepIndex = graph.StepIndex[name!];
            // Every response against the metadata and what the step before on the path actually offered (StepInputValidator).
            using var previous = index == 0 || run.Steps[index - 1].OutputsJson is not { } offered ? null : JsonDocument.Parse(offered);
            if (StepInputValidator.Validate(metadata.RootElement, stepIndex, responses, previous?.RootElement, options.MaxFileBytes,
                    fromInit: index == 0) is { Count: > 0 } invalid)
                return new SubmitResult.InvalidInput(index, name!, invalid);
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

            foreach (var admission in admissions ?? [])
                if (admission.Admit(run, index, version.Environment.Profile) is { } over)
                    return new SubmitResult.QuotaExceeded(index, over);

            var step = PlaceOnPath(run, index, name!);
            step.Status = StepStatus.Queued;
            step.ResponsesJson = responses.GetRawText();
            step.OutputsJson = step.ErrorJson = step.Message = null;
            step.Logs = "";
            step.QueuedAt = DateTime.UtcNow;
            step.StartedAt = step.EndedAt = null;
            foreach (var later in run.Steps.Skip(index + 1))
                later.Status = later.Status is StepStatus.Pending or StepStatus.AwaitingInput ? StepStatus.Pending : StepStatus.Stale;
            db.Runs.Update(run);
            foreach (var changed in run.Steps.Skip(index)) events.Publish(run.Id, changed);

            var request = new JsonObject
            {
                ["protocol"] = 1,
                ["entrypoint"] = metadata.RootElement.GetProperty("entrypoint").GetString(),
                ["step"] = stepIndex,
                ["responses"] = JsonNode.Parse(responses.GetRawText()),
                ["previous"] = index == 0 ? null : JsonNode.Parse(run.Steps[index - 1].OutputsJson ?? "null"),
            };
            var execution = new StepExecutionRequest(version.VersionImage, version.Environment.Profile, request.ToJsonString(),
                new Dictionary<string, string>
                {
                    ["feather.run"] = run.Id, ["feather.step"] = index.ToString(),
                    ["feather.model"] = $"{run.Owner}/{run.Model}", ["feather.version"] = run.Version.ToString(),
                }, User: run.CreatedBy,
                Entrypoint: runner.Value.PrepareContainers ? metadata.RootElement.GetProperty("entrypoint").GetString() : null);
            var cancel = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            var done = Task.Run(() => ExecuteAsync(executor, run.Id, index, execution, graph, cancel.Token), CancellationToken.None);
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
    /// Says why step <paramref name="name"/> may not run at position <paramref name="index"/> of the run's path (null when it
    /// may): the first position takes the graph's start; any other one of the steps the step before it offered when it
    /// succeeded (recorded from what it returned, never from a client).
    /// </summary>
    private static string? NotOnPath(RunGraph graph, RunRecord run, int index, string? name)
    {
        if (name is null || !graph.StepIndex.ContainsKey(name))
            return $"the model has no step '{name}'; name one of {string.Join(", ", graph.StepIndex.Keys)}";
        if (index == 0)
            return name == graph.Start ? null : $"step '{name}' is not next on the path: the run starts with '{graph.Start}'";
        var before = run.Steps[index - 1];
        var offered = before.Next ?? graph.Next(before.Name, before.Branch, before.Iteration).Offered;
        if (offered.Contains(name)) return null;
        var after = $"after '{before.Name}'" + (before.Branch is null ? "" : $" (branch '{before.Branch}')");
        return $"step '{name}' is not next on the path: {after} the model offers " +
               (offered.Count == 0 ? "nothing (the run ends there)" : string.Join(" or ", offered.Select(o => $"'{o}'")));
    }

    /// <summary>
    /// The run's entry for step <paramref name="name"/> at position <paramref name="index"/>: the one there, or a new one when
    /// the path takes another step there (the steps from there on, of the branch left, are discarded as stale).
    /// </summary>
    private static RunStepRecord PlaceOnPath(RunRecord run, int index, string name)
    {
        if (index < run.Steps.Count && run.Steps[index].Name == name) return run.Steps[index];
        Discard(run, index);
        var before = index > 0 ? run.Steps[index - 1] : null;
        var entry = new RunStepRecord
        {
            Index = index, Name = name, Status = StepStatus.AwaitingInput,
            Iteration = before?.Name == name ? before.Iteration + 1 : 1,
        };
        run.Steps.Add(entry);
        return entry;
    }

    /// <summary>Moves the path's steps from <paramref name="index"/> on to the run's discarded steps, stale.</summary>
    private static void Discard(RunRecord run, int index)
    {
        if (index >= run.Steps.Count) return;
        foreach (var old in run.Steps.Skip(index))
        {
            if (old.Status is StepStatus.Pending or StepStatus.AwaitingInput) continue; // never run: nothing to keep
            old.Status = StepStatus.Stale;
            run.Discarded.Add(old);
        }
        run.Steps.RemoveRange(index, run.Steps.Count - index);
        if (run.Discarded.Count > MaxDiscarded) run.Discarded.RemoveRange(0, run.Discarded.Count - MaxDiscarded);
    }

    /// <summary>The most discarded steps a run keeps (the oldest go first).</summary>
    public const int MaxDiscarded = 100;

    /// <summary>
    /// After the step at <paramref name="index"/> succeeded: records its branch and what the graph offers next, and makes
    /// the path fit: the next position keeps its step when that step is still offered (waiting for input, or stale after a
    /// re-run), else the branch left is discarded and the model's choice waits for input there. Returns the entries changed.
    /// A branch the graph does not know fails the step instead.
    /// </summary>
    private static List<RunStepRecord> AdvancePath(RunGraph graph, RunRecord run, int index, string? branch)
    {
        var step = run.Steps[index];
        if (graph.BranchProblem(step.Name, branch) is { } problem)
        {
            step.Status = StepStatus.Failed;
            step.OutputsJson = null;
            step.ErrorJson = Error("protocol_error", problem);
            return [];
        }
        step.Branch = branch;
        var (offered, ends) = graph.Next(step.Name, branch, step.Iteration);
        step.Next = offered;
        step.Ends = ends;
        var changed = new List<RunStepRecord>();
        if (index + 1 < run.Steps.Count && offered.Contains(run.Steps[index + 1].Name))
        {
            var next = run.Steps[index + 1];
            if (next.Status == StepStatus.Pending) next.Status = StepStatus.AwaitingInput;
            changed.Add(next);
            return changed;
        }
        Discard(run, index + 1);
        if (offered.Count > 0)
        {
            var next = new RunStepRecord
            {
                Index = index + 1, Name = offered[0], Status = StepStatus.AwaitingInput,
                Iteration = offered[0] == step.Name ? step.Iteration + 1 : 1,
            };
            run.Steps.Add(next);
            changed.Add(next);
        }
        return changed;
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
        RunGraph graph, CancellationToken ct)
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

        string? branch = null;
        if (result.Outcome == StepOutcome.Succeeded && result.Result is { } reported &&
            reported.TryGetProperty("branch", out var b) && b.ValueKind == JsonValueKind.String)
            branch = b.GetString();
        var finished = await Update(runId, index, s =>
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
        }, (run, i) => AdvancePath(graph, run, i, branch));
        if (Find(runId) is { } stored)
            foreach (var observer in observers ?? [])
            {
                try { observer.Finished(new StepFinished(stored, stored.Steps[index], request.Profile, result.Duration)); }
                catch (Exception e) { logger.LogError(e, "A step observer failed"); }
            }
        return finished;
    }

    /// <summary>
    /// Deletes a run under its lock when <paramref name="may"/> agrees with the run as stored then (no step of it may be
    /// queued or running: those are refused). Returns the deleted run, or null.
    /// </summary>
    public async Task<RunRecord?> DeleteAsync(string runId, Func<RunRecord, bool> may, CancellationToken ct)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var run = Find(runId);
            if (run is null || run.Steps.Any(s => StepStatus.IsActive(s.Status)) || !may(run)) return null;
            return db.Runs.Delete(runId) ? run : null;
        }
        finally
        {
            gate.Release();
            _locks.TryRemove(runId, out _);
        }
    }

    private static string Error(string type, string message) =>
        new JsonObject { ["type"] = type, ["message"] = message }.ToJsonString();

    private async Task<RunStepRecord> Update(string runId, int index, Action<RunStepRecord> change,
        Func<RunRecord, int, List<RunStepRecord>>? onSuccess = null)
    {
        var gate = _locks.GetOrAdd(runId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            var run = Find(runId)!;
            var step = run.Steps[index];
            change(step);
            var changed = onSuccess is not null && step.Status == StepStatus.Succeeded ? onSuccess(run, index) : [];
            db.Runs.Update(run);
            events.Publish(runId, step);
            foreach (var next in changed) events.Publish(runId, next);
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

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Feather.Contracts;
using Feather.Datasets;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Datasets;
using Feather.Server.Models;
using Feather.Server.Publishing;
using Feather.Server.Sandbox;
using Feather.Server.Storage;
using Json.Schema;
using Microsoft.Extensions.Options;

namespace Feather.Server.Finetunes;

/// <summary>Fine-tuning settings (section <c>Finetunes</c>).</summary>
public sealed class FinetuneOptions
{
    /// <summary>Jobs that train at once (each holds one slot of the runner's fair queue while it trains).</summary>
    public int MaxConcurrent { get; set; } = 1;
    /// <summary>Most bytes of a dataset version (records and files) a job sends to its container.</summary>
    public long MaxDatasetBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>Most bytes of the files a training function may write (they come back base64 on stdout).</summary>
    public long MaxOutputBytes { get; set; } = 256L * 1024 * 1024;
    /// <summary>Log text kept per job.</summary>
    public int MaxLogBytes { get; set; } = 256 * 1024;
    /// <summary>Progress reports kept per job (the latest, once there are more).</summary>
    public int MaxProgressPoints { get; set; } = 2000;
    /// <summary>How long a job waits for its base version's image to be built.</summary>
    public int ImageWaitSeconds { get; set; } = 900;

    public IEnumerable<string> Validate()
    {
        if (MaxConcurrent < 1) yield return $"Finetunes:MaxConcurrent must be at least 1 (got {MaxConcurrent}).";
        if (MaxDatasetBytes < 1024) yield return $"Finetunes:MaxDatasetBytes must be at least 1024 (got {MaxDatasetBytes}).";
        if (MaxOutputBytes is < 1024 or > 1024L * 1024 * 1024)
            yield return $"Finetunes:MaxOutputBytes must be between 1024 and 1073741824 (got {MaxOutputBytes}).";
        if (MaxLogBytes < 1024) yield return $"Finetunes:MaxLogBytes must be at least 1024 (got {MaxLogBytes}).";
        if (MaxProgressPoints < 10) yield return $"Finetunes:MaxProgressPoints must be at least 10 (got {MaxProgressPoints}).";
        if (ImageWaitSeconds < 1) yield return $"Finetunes:ImageWaitSeconds must be at least 1 (got {ImageWaitSeconds}).";
    }
}

public enum FinetuneStartStatus { Started, ModelNotFound, UnknownVersion, DatasetNotFound, UnknownDatasetVersion, NotTrainable, InvalidParams, TooLarge, QuotaExceeded }

public readonly record struct FinetuneStart(FinetuneStartStatus Status, FinetuneRecord? Job, string? Message = null,
    Dictionary<string, string[]>? Errors = null, Runs.StepRefusal? Refusal = null);

public enum FinetuneCancelStatus { Cancelled, NotFound, AlreadyFinished, Saving }

/// <summary>What a running job has produced so far, in memory (the live log and progress behind the events stream).</summary>
public sealed class LiveJob
{
    private readonly object _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StringBuilder _log = new();
    private readonly List<FinetuneProgressRecord> _history = [];

    public (string Log, FinetuneProgressRecord[] History, Task Changed) Snapshot()
    {
        lock (_gate) return (_log.ToString(), [.. _history], _changed.Task);
    }

    public void AppendLog(string text)
    {
        lock (_gate) _log.Append(text);
        Touch();
    }

    public void AddProgress(FinetuneProgressRecord point, int max)
    {
        lock (_gate)
        {
            _history.Add(point);
            if (_history.Count > max) _history.RemoveAt(0);
        }
        Touch();
    }

    public void Touch()
    {
        TaskCompletionSource previous;
        lock (_gate)
        {
            previous = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        previous.TrySetResult();
    }
}

/// <summary>
/// Starts, runs and cancels fine-tune jobs (docs/finetuning.md). A job reads the dataset version's records (labels
/// included: it is training data) from the blob store and sends them with the hyperparameters to the base version's
/// image through <see cref="IStepExecutor"/>: the same hardened sandbox, profile limits and fair queue as steps, with the
/// profile's training timeout. The files the training function wrote come back in its result; the server checks them,
/// stores them in the blob store and records a new version (the base version's files with those replaced or added, the
/// same code and environment) with its lineage, which is built and then evaluated like any version.
/// </summary>
public sealed partial class FinetuneService
{
    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LiveJob> _live = new(StringComparer.Ordinal);
    private readonly FinetuneStore _store;
    private readonly ModelStore _models;
    private readonly DatasetStore _datasets;
    private readonly IBlobStore _blobs;
    private readonly FileSystemBlobStore _files;
    private readonly ImageBuildQueue _builds;
    private readonly FeatherDb _db;
    private readonly FeatherOptions _featherOptions;
    private readonly RunnerOptions _runner;
    private readonly IStepExecutor? _executor;
    private readonly FinetuneOptions _options;
    private readonly ILogger<FinetuneService> _logger;
    private readonly Usage.UsageService? _usage;

    public FinetuneService(FinetuneStore store, ModelStore models, DatasetStore datasets, IBlobStore blobs, FileSystemBlobStore files,
        ImageBuildQueue builds, FeatherDb db, FeatherOptions featherOptions, IOptions<RunnerOptions> runner, IOptions<FinetuneOptions> options,
        ILogger<FinetuneService> logger, IStepExecutor? executor = null, Usage.UsageService? usage = null)
    {
        _usage = usage;
        _store = store;
        _models = models;
        _datasets = datasets;
        _blobs = blobs;
        _files = files;
        _builds = builds;
        _db = db;
        _featherOptions = featherOptions;
        _runner = runner.Value;
        _executor = executor;
        _options = options.Value;
        _logger = logger;
    }

    public ChannelReader<string> Queue => _queue.Reader;

    public FinetuneOptions Options => _options;

    /// <summary>The in-memory state of a job that is running now (null otherwise).</summary>
    public LiveJob? Live(string id) => _live.GetValueOrDefault(id);

    /// <summary>The <c>train</c> object of a version's metadata, or null when the model declares no training function.</summary>
    public static JsonObject? Train(VersionRecord version) =>
        JsonNode.Parse(version.MetadataJson) is JsonObject root && root["train"] is JsonObject train ? train : null;

    /// <summary>The model a caller's fine-tune of <paramref name="model"/> goes to: the model itself when they may publish to it, else their own MODEL-ft.</summary>
    public (string Owner, string Name) Target(ModelRecord model, Caller caller)
    {
        if (_models.CanWrite(model, caller)) return (model.Owner, model.Name);
        var stem = model.Name.Length > 60 ? model.Name[..60].TrimEnd('-') : model.Name;
        return (caller.Username!, stem + "-ft");
    }

    public FinetuneStart Start(StartFinetuneRequest request, Caller caller)
    {
        var (modelOwner, modelName) = Split(request.Model);
        var model = modelOwner is null ? null : _models.Find(modelOwner, modelName!);
        if (model is null || !_models.CanRead(model, caller))
            return new(FinetuneStartStatus.ModelNotFound, null, $"no model {request.Model} (give it as OWNER/MODEL)");
        var number = _models.Resolve(model, request.Version);
        var version = number is null ? null : _models.FindVersion(model.Id, number.Value);
        if (version is null)
            return new(FinetuneStartStatus.UnknownVersion, null,
                request.Version is null ? $"{model.Key} has no live version" : $"{model.Key} has no version or tag '{request.Version}'");
        var (datasetOwner, datasetName) = Split(request.Dataset);
        var dataset = datasetOwner is null ? null : _datasets.Find(datasetOwner, datasetName!);
        if (dataset is null || !_datasets.CanRead(dataset, caller))
            return new(FinetuneStartStatus.DatasetNotFound, null, $"no dataset {request.Dataset} (give it as OWNER/NAME)");
        var dv = _datasets.FindVersion(dataset.Id, request.DatasetVersion ?? dataset.LatestVersion);
        if (dv is null) return new(FinetuneStartStatus.UnknownDatasetVersion, null, $"the dataset {dataset.Key} has no version {request.DatasetVersion}");
        var train = Train(version);
        if (train is null)
            return new(FinetuneStartStatus.NotTrainable, null,
                $"{model.Key} version {version.Number} declares no training function (ftr.build(..., train=fn) with @ftr.train(params={{...}}))");
        if (train["task"]?.GetValue<string>() is { } task && task != dataset.Task)
            return new(FinetuneStartStatus.NotTrainable, null,
                $"{model.Key} version {version.Number} trains for {task}; the dataset {dataset.Key} is for {dataset.Task}");
        var (resolved, errors) = ResolveParams(train, request.Params);
        if (errors.Count > 0)
            return new(FinetuneStartStatus.InvalidParams, null, "the hyperparameters do not match the training function's declaration", errors);
        var bytes = dv.Files.Sum(f => f.Size);
        if (bytes > _options.MaxDatasetBytes)
            return new(FinetuneStartStatus.TooLarge, null,
                $"the dataset {dataset.Key} version {dv.Number} holds {bytes} bytes; a fine-tune job sends at most {_options.MaxDatasetBytes} (Finetunes:MaxDatasetBytes)");
        var (targetOwner, targetName) = Target(model, caller);
        var job = new FinetuneRecord
        {
            Id = "ft-" + Ids.New(8), BaseModelId = model.Id, BaseModel = model.Key, BaseVersion = version.Number, DatasetId = dataset.Id,
            Dataset = dataset.Key, DatasetVersion = dv.Number, RequestedBy = caller.Username!, ParamsJson = resolved!.ToJsonString(),
            ResultModel = $"{targetOwner}/{targetName}", CreatedAt = DateTime.UtcNow, Profile = version.Environment.Profile,
        };
        // a job counts towards its caller's usage and quotas like a step of the base version's profile
        if (_usage?.AdmitJob(job.Id, job.RequestedBy, model.Id, model.Key, job.Profile) is { } over)
            return new(FinetuneStartStatus.QuotaExceeded, null, over.Message, Refusal: over);
        _store.Insert(job);
        _queue.Writer.TryWrite(job.Id);
        LogQueued(job.Id, model.Key, version.Number, dataset.Key, dv.Number, job.RequestedBy);
        return new(FinetuneStartStatus.Started, job);
    }

    /// <summary>
    /// The given hyperparameters checked against the declaration (each param's declaration is a JSON Schema of its value;
    /// unknown names are refused), with the defaults filled in, in the declared order; or the problems by param.
    /// </summary>
    public static (JsonObject? Resolved, Dictionary<string, string[]> Errors) ResolveParams(JsonObject train, Dictionary<string, JsonElement>? given)
    {
        var errors = new Dictionary<string, string[]>();
        var declared = train["params"] as JsonObject ?? [];
        var resolved = new JsonObject();
        foreach (var key in (given ?? []).Keys.Where(k => !declared.ContainsKey(k)))
            errors[$"params/{key}"] = [$"unknown param; the training function declares {(declared.Count == 0 ? "none" : string.Join(", ", declared.Select(p => p.Key)))}"];
        foreach (var (name, declaration) in declared)
        {
            if (declaration is not JsonObject schemaNode) continue;
            JsonNode? value = given is not null && given.TryGetValue(name, out var v) ? JsonNode.Parse(v.GetRawText()) : schemaNode["default"]?.DeepClone();
            var schemaText = new JsonObject(schemaNode.Where(p => p.Key != "default").Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
            var schema = JsonSchema.FromText(schemaText.ToJsonString());
            using var instance = JsonDocument.Parse(value?.ToJsonString() ?? "null");
            var result = schema.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!result.IsValid)
            {
                var messages = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Values).ToArray();
                errors[$"params/{name}"] = messages.Length > 0 ? messages : ["does not match its declaration"];
                continue;
            }
            // a float param given as a whole number is still a float to the training function
            if (schemaNode["type"]?.GetValue<string>() == "number" && value is JsonValue number && number.TryGetValue<long>(out var whole))
                value = JsonValue.Create((double)whole);
            resolved[name] = value;
        }
        return (errors.Count > 0 ? null : resolved, errors);
    }

    private static (string? Owner, string? Name) Split(string? key)
    {
        var parts = (key ?? "").Split('/');
        return parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0 ? (parts[0], parts[1]) : (null, null);
    }

    public FinetuneCancelStatus Cancel(string id, Caller caller)
    {
        var job = _store.Find(id);
        if (job is null || !FinetuneStore.CanSee(job, caller)) return FinetuneCancelStatus.NotFound;
        if (FinetuneStatus.IsTerminal(job.Status)) return FinetuneCancelStatus.AlreadyFinished;
        if (job.Status == FinetuneStatus.Saving) return FinetuneCancelStatus.Saving;
        if (_running.TryGetValue(id, out var cts))
        {
            cts.Cancel(); // the runner kills the container; no version is recorded
            return FinetuneCancelStatus.Cancelled;
        }
        job.Status = FinetuneStatus.Cancelled;
        job.Error = "cancelled before it started";
        job.FinishedAt = DateTime.UtcNow;
        _store.Save(job);
        _usage?.JobFinished(job.Id, 0, job.Profile, failed: true);
        return FinetuneCancelStatus.Cancelled;
    }

    /// <summary>At start: queued jobs are queued again; one that was training or saving when the server stopped failed.</summary>
    public void Recover()
    {
        foreach (var job in _store.Unfinished())
        {
            if (job.Status == FinetuneStatus.Queued)
            {
                _queue.Writer.TryWrite(job.Id);
                continue;
            }
            job.Status = FinetuneStatus.Failed;
            job.Error = "the server stopped during the job; start it again";
            job.FinishedAt = DateTime.UtcNow;
            _store.Save(job);
        }
    }

    /// <summary>Runs one queued job to its end. Never throws for the model's faults.</summary>
    public async Task RunAsync(string id, CancellationToken stopping)
    {
        var job = _store.Find(id);
        if (job is null || job.Status != FinetuneStatus.Queued) return;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var live = new LiveJob();
        _live[id] = live;
        _running[id] = cts;
        var clock = Stopwatch.StartNew();
        try
        {
            job.Status = FinetuneStatus.Running;
            job.StartedAt = DateTime.UtcNow;
            _store.Save(job);
            live.Touch();
            var error = await TrainAsync(job, live, cts.Token);
            job.Status = error is null ? FinetuneStatus.Succeeded : FinetuneStatus.Failed;
            job.Error = error;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            job.Status = stopping.IsCancellationRequested ? FinetuneStatus.Failed : FinetuneStatus.Cancelled;
            job.Error = stopping.IsCancellationRequested ? "the server stopped during the job; start it again" : "cancelled";
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Fine-tune job {Id} failed unexpectedly", id);
            job.Status = FinetuneStatus.Failed;
            job.Error = $"the job failed on the server: {e.Message}";
        }
        finally
        {
            _running.TryRemove(id, out _);
        }
        var (log, history, _) = live.Snapshot();
        job.FinishedAt = DateTime.UtcNow;
        job.Seconds = clock.Elapsed.TotalSeconds;
        job.Logs = Cap(log);
        job.History = [.. history];
        _store.Save(job);
        _usage?.JobFinished(id, job.TrainingSeconds ?? 0, job.Profile, failed: job.Status != FinetuneStatus.Succeeded);
        _live.TryRemove(id, out _);
        live.Touch();
        LogFinished(id, job.Status, job.Seconds ?? 0, job.Error ?? "");
    }

    private string Cap(string text) =>
        Encoding.UTF8.GetByteCount(text) <= _options.MaxLogBytes ? text : "[earlier log cut]\n" + text[^(_options.MaxLogBytes / 2)..];

    /// <summary>Returns null when the new version is recorded, else why the job failed.</summary>
    private async Task<string?> TrainAsync(FinetuneRecord job, LiveJob live, CancellationToken ct)
    {
        if (_executor is null) return "this server has no runner for model containers";
        var dv = _datasets.FindVersion(job.DatasetId, job.DatasetVersion);
        if (dv is null) return "the dataset version no longer exists";
        var (version, imageError) = await ReadyVersionAsync(job, ct);
        if (imageError is not null) return imageError;
        var limits = _runner.Profiles.Find(version!.Environment.Profile);
        if (limits is null) return $"unknown profile '{version.Environment.Profile}'";

        using var manifestDoc = JsonDocument.Parse(dv.ManifestJson);
        var manifest = DatasetManifest.Parse(manifestDoc.RootElement, _ => null).Manifest
                       ?? throw new InvalidOperationException("the stored manifest does not parse");
        var files = dv.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var fields = new JsonArray([.. manifest.Fields.Select(f =>
        {
            var field = new JsonObject { ["name"] = f.Name, ["type"] = f.Type, ["role"] = f.Role };
            if (f.Classes is { } classes) field["classes"] = new JsonArray([.. classes.Select(c => (JsonNode)JsonValue.Create(c)!)]);
            return (JsonNode)field;
        })]);
        var records = new JsonArray();
        await using (var stream = await _blobs.OpenReadAsync(files[dv.Records].Sha256, ct))
        {
            await foreach (var record in DatasetRecords.ReadAsync(stream, manifest, path => files.ContainsKey(path) ? null : "no such file", ct))
            {
                if (record.Problems.Count > 0) return $"the dataset's records: {record.Problems[0]}";
                // training data: every field, labels included
                var values = (JsonObject)record.Values.DeepClone();
                foreach (var field in manifest.Fields.Where(f => f.IsFile))
                {
                    if (values[field.Name] is not JsonValue v || !v.TryGetValue<string>(out var path)) continue;
                    await using var blob = await _blobs.OpenReadAsync(files[path].Sha256, ct);
                    using var buffer = new MemoryStream();
                    await blob.CopyToAsync(buffer, ct);
                    values[field.Name] = new JsonObject
                    {
                        ["name"] = path, ["media_type"] = Evaluations.EvaluationService.MediaType(path), ["data"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length),
                    };
                }
                records.Add(values);
            }
        }
        if (records.Count == 0) return "the dataset version has no records";
        var entrypoint = JsonNode.Parse(version.MetadataJson)?["entrypoint"]?.GetValue<string>() ?? "model.py";
        var request = new JsonObject
        {
            ["protocol"] = 1, ["mode"] = "train", ["entrypoint"] = entrypoint, ["fields"] = fields, ["records"] = records,
            ["params"] = JsonNode.Parse(job.ParamsJson),
        };
        live.AppendLog($"--- training {job.BaseModel} version {job.BaseVersion} on {job.Dataset} version {job.DatasetVersion} ({records.Count} records), profile {version.Environment.Profile}, timeout {limits.TrainingTimeoutSeconds} s ---\n");
        var execution = new StepExecutionRequest(version.VersionImage!, version.Environment.Profile, request.ToJsonString(),
            new Dictionary<string, string>
            {
                ["org.feather.finetune"] = job.Id, ["org.feather.model"] = job.BaseModelId,
                ["org.feather.version"] = job.BaseVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            User: $"finetune:{job.RequestedBy}",
            Log: new SyncProgress(line => live.AppendLog(line + "\n")),
            Output: new SyncProgress(line => OnOutput(job, live, line)),
            TimeoutSeconds: limits.TrainingTimeoutSeconds,
            // base64 makes the files a third larger; the events and the result's other fields fit in the margin
            MaxOutputBytes: (int)Math.Min(int.MaxValue - 1, _options.MaxOutputBytes * 4 / 3 + 4 * 1024 * 1024));
        request = null; // the request text lives in the execution only
        var result = await _executor.ExecuteAsync(execution, ct);
        job.TrainingSeconds = result.Duration.TotalSeconds;
        if (result.Outcome == StepOutcome.Cancelled) throw new OperationCanceledException(ct);
        if (result.Outcome != StepOutcome.Succeeded) return result.Message;
        if (result.Result is not { } line || !line.TryGetProperty("files", out var returned) || returned.ValueKind != JsonValueKind.Array)
            return "the runtime's result has no 'files' array";
        if (line.TryGetProperty("metrics", out var metrics) && metrics.ValueKind == JsonValueKind.Object)
            foreach (var m in metrics.EnumerateObject().Where(m => m.Value.ValueKind == JsonValueKind.Number))
                job.Metrics[m.Name] = m.Value.GetDouble();

        job.Status = FinetuneStatus.Saving;
        _running.TryRemove(job.Id, out _); // from here the job is recorded whatever happens to the caller's cancel
        _store.Save(job);
        live.Touch();
        return await SaveVersionAsync(job, version, returned, live);
    }

    /// <summary>A stdout line of the runtime: a progress event is recorded (anything else is the result or ignored).</summary>
    private void OnOutput(FinetuneRecord job, LiveJob live, string line)
    {
        if (line.Length > 64 * 1024 || !line.StartsWith("{\"type\":\"progress\"", StringComparison.Ordinal)) return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var point = new FinetuneProgressRecord
            {
                Epoch = root.TryGetProperty("epoch", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var epoch) ? epoch : null,
                Epochs = root.TryGetProperty("epochs", out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var epochs) ? epochs : null,
                At = DateTime.UtcNow,
            };
            if (root.TryGetProperty("metrics", out var metrics) && metrics.ValueKind == JsonValueKind.Object)
                foreach (var m in metrics.EnumerateObject().Take(32).Where(m => m.Value.ValueKind == JsonValueKind.Number && m.Name.Length <= 64))
                    point.Metrics[m.Name] = m.Value.GetDouble();
            live.AddProgress(point, _options.MaxProgressPoints);
            foreach (var (k, v) in point.Metrics) job.Metrics[k] = v;
        }
        catch (JsonException)
        {
            // not an event of the runtime's (the model cannot write to stdout: it goes to the log)
        }
    }

    /// <summary>Checks the files the training function wrote, stores them, and records the new version with its lineage.</summary>
    private async Task<string?> SaveVersionAsync(FinetuneRecord job, VersionRecord baseVersion, JsonElement returned, LiveJob live)
    {
        var outputs = new List<(string Path, string Sha256, byte[] Bytes)>();
        long total = 0;
        foreach (var f in returned.EnumerateArray())
        {
            var path = f.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "";
            if (ManifestPath.Problem(path) is { } problem) return $"the training function wrote '{path}': {problem}";
            if (outputs.Any(o => o.Path == path)) return $"the training function's result lists '{path}' twice";
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(f.GetProperty("data").GetString() ?? "");
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or KeyNotFoundException)
            {
                return $"the training function's result for '{path}' has no base64 data";
            }
            total += bytes.Length;
            if (bytes.Length > _featherOptions.MaxFileBytes || total > _options.MaxOutputBytes)
                return $"the training function wrote {total} bytes or more; a job may write at most {_options.MaxOutputBytes} (Finetunes:MaxOutputBytes)";
            outputs.Add((path, Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes));
        }
        if (outputs.Count == 0) return "the training function wrote no file";
        var replaced = outputs.Select(o => o.Path).ToHashSet(StringComparer.Ordinal);
        var kept = baseVersion.Files.Where(f => !replaced.Contains(f.Path)).ToList();
        if (kept.Count + outputs.Count > _featherOptions.MaxFilesPerVersion)
            return $"the new version would hold {kept.Count + outputs.Count} files; at most {_featherOptions.MaxFilesPerVersion} are allowed";
        if (outputs.Any(o => baseVersion.Files.Any(f => f.Path == o.Path && f.Kind == "code")))
            return $"the training function wrote over the model's code ({string.Join(", ", outputs.Where(o => baseVersion.Files.Any(f => f.Path == o.Path && f.Kind == "code")).Select(o => o.Path))}); it may write weights and data only";

        var staging = "finetune-" + job.Id;
        try
        {
            foreach (var (path, sha, bytes) in outputs)
            {
                using var body = new MemoryStream(bytes, writable: false);
                var staged = await _files.StageAsync(staging, sha, bytes.Length, body, CancellationToken.None);
                if (staged.Outcome != StageOutcome.Stored) return $"storing '{path}' failed: {staged.Detail}";
            }
            foreach (var (_, sha, _) in outputs) _files.Commit(staging, sha);
        }
        finally
        {
            _files.DeleteStaging(staging);
        }

        var newFiles = kept.Select(f => new VersionFileRecord { Path = f.Path, Sha256 = f.Sha256, Size = f.Size, Kind = f.Kind })
            .Concat(outputs.Select(o => new VersionFileRecord
            {
                Path = o.Path, Sha256 = o.Sha256, Size = o.Bytes.Length, Kind = baseVersion.Files.FirstOrDefault(f => f.Path == o.Path)?.Kind ?? "model",
            }))
            .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        var metadata = JsonNode.Parse(baseVersion.MetadataJson)!.AsObject();
        if (metadata["bundle"] is JsonObject bundle && bundle["model"] is JsonArray modelFiles)
        {
            var listed = modelFiles.Select(n => n?.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            foreach (var o in outputs.Where(o => !listed.Contains(o.Path) && !baseVersion.Files.Any(f => f.Path == o.Path)))
                modelFiles.Add(o.Path);
        }
        var env = baseVersion.Environment;
        var (owner, name) = Split(job.ResultModel);
        var (log, _, _) = live.Snapshot();
        var lineage = new VersionLineageRecord
        {
            Job = job.Id, BaseModel = job.BaseModel, BaseVersion = job.BaseVersion, Dataset = job.Dataset, DatasetVersion = job.DatasetVersion,
            ParamsJson = job.ParamsJson, Metrics = new Dictionary<string, double>(job.Metrics), RequestedBy = job.RequestedBy, Logs = Cap(log),
        };
        var notes = $"fine-tuned from {job.BaseModel} version {job.BaseVersion} on {job.Dataset} version {job.DatasetVersion} ({job.Id})";
        var (model, version) = _db.InTransaction(() => _models.AddVersion(new NewVersion(owner!, name!, null, false, job.RequestedBy, notes,
            metadata.ToJsonString(), newFiles,
            new EnvironmentRecord
            {
                RunnerImage = env.RunnerImage, RunnerImageId = env.RunnerImageId, Profile = env.Profile, Python = env.Python,
                SystemPackages = [.. env.SystemPackages], PythonPackages = [.. env.PythonPackages],
            }, lineage)));
        _builds.Enqueue(version.Id);
        job.ResultVersion = version.Number;
        live.AppendLog($"--- recorded {model.Key} version {version.Number} ({outputs.Count} file(s) written: {string.Join(", ", outputs.Select(o => o.Path))}) ---\n");
        return null;
    }

    /// <summary>The base version with a ready image: a removed image is rebuilt, a pending or building one waited for.</summary>
    private async Task<(VersionRecord? Version, string? Error)> ReadyVersionAsync(FinetuneRecord job, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(_options.ImageWaitSeconds);
        while (true)
        {
            var version = _models.FindVersion(job.BaseModelId, job.BaseVersion);
            if (version is null) return (null, "the base model version no longer exists");
            switch (version.ImageStatus)
            {
                case ImageStatus.Ready when version.VersionImage is not null:
                    return (version, null);
                case ImageStatus.Failed:
                    return (null, $"the image of the base model version failed to build: {version.ImageError}");
                case ImageStatus.Removed:
                    version.ImageStatus = ImageStatus.Pending;
                    version.ImageError = null;
                    _models.SaveVersion(version);
                    _builds.Enqueue(version.Id);
                    break;
            }
            if (DateTime.UtcNow > deadline) return (null, $"the image of the base model version is still {version.ImageStatus} after {_options.ImageWaitSeconds} s");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>An IProgress that reports on the caller's thread (in order), unlike Progress&lt;T&gt;.</summary>
    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Fine-tune job {Id} queued: {Model} version {Version} on {Dataset} version {DatasetVersion} for {Caller}")]
    private partial void LogQueued(string id, string model, int version, string dataset, int datasetVersion, string caller);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fine-tune job {Id} {Status} in {Seconds:F1} s {Error}")]
    private partial void LogFinished(string id, string status, double seconds, string error);
}

/// <summary>Takes queued fine-tune jobs, up to <see cref="FinetuneOptions.MaxConcurrent"/> at once.</summary>
internal sealed class FinetuneWorker(FinetuneService service, ILogger<FinetuneWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        service.Recover();
        var workers = Enumerable.Range(0, service.Options.MaxConcurrent).Select(async _ =>
        {
            await foreach (var id in service.Queue.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await service.RunAsync(id, stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogError(e, "Fine-tune job {Id} could not run", id);
                }
            }
        });
        try
        {
            await Task.WhenAll(workers);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

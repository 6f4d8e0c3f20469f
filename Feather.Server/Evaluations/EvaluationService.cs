using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Feather.Contracts;
using Feather.Datasets;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Datasets;
using DatasetRecord = Feather.Server.Datasets.DatasetRecord;
using Feather.Server.Models;
using Feather.Server.Sandbox;
using Microsoft.Extensions.Options;

namespace Feather.Server.Evaluations;

/// <summary>Evaluation settings (section <c>Evaluations</c>).</summary>
public sealed class EvaluationOptions
{
    /// <summary>Evaluations scored at once (each sends its chunks through the runner's fair queue).</summary>
    public int MaxConcurrent { get; set; } = 1;
    /// <summary>Most records one container answers (one chunk); each chunk must finish within the profile's timeout.</summary>
    public int ChunkRecords { get; set; } = 2048;
    /// <summary>Most request bytes (inputs with their files, base64) one chunk sends.</summary>
    public int ChunkBytes { get; set; } = 8 * 1024 * 1024;
    /// <summary>Log text kept per evaluation.</summary>
    public int MaxLogBytes { get; set; } = 256 * 1024;
    /// <summary>How long an evaluation waits for its version's image to be built.</summary>
    public int ImageWaitSeconds { get; set; } = 900;

    public IEnumerable<string> Validate()
    {
        if (MaxConcurrent < 1) yield return $"Evaluations:MaxConcurrent must be at least 1 (got {MaxConcurrent}).";
        if (ChunkRecords < 1) yield return $"Evaluations:ChunkRecords must be at least 1 (got {ChunkRecords}).";
        if (ChunkBytes < 64 * 1024) yield return $"Evaluations:ChunkBytes must be at least 65536 (got {ChunkBytes}).";
        if (MaxLogBytes < 1024) yield return $"Evaluations:MaxLogBytes must be at least 1024 (got {MaxLogBytes}).";
        if (ImageWaitSeconds < 1) yield return $"Evaluations:ImageWaitSeconds must be at least 1 (got {ImageWaitSeconds}).";
    }
}

public enum EvaluationStartStatus
{
    Started,
    /// <summary>The same model version and dataset version is already queued or running: that one is returned.</summary>
    AlreadyRunning,
    ModelNotFound,
    UnknownVersion,
    DatasetNotFound,
    UnknownDatasetVersion,
    /// <summary>The version declares no predict function, or one for another task.</summary>
    NotEvaluable,
}

public readonly record struct EvaluationStart(EvaluationStartStatus Status, EvaluationRecord? Evaluation, string? Message = null);

public enum EvaluationCancelStatus { Cancelled, NotFound, Forbidden, AlreadyFinished }

/// <summary>
/// Starts, triggers, runs and cancels evaluations (docs/datasets.md, "Evaluation"). A run reads the dataset version's
/// records from the blob store, sends only their input fields (and the files those point at) in chunks to the model
/// version's image through <see cref="IStepExecutor"/> (the same hardened sandbox, profile limits and fair queue as
/// steps), checks the predictions, and scores them here, with the labels that never left the server.
/// </summary>
public sealed partial class EvaluationService
{
    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);
    private readonly EvaluationStore _store;
    private readonly ModelStore _models;
    private readonly DatasetStore _datasets;
    private readonly IBlobStore _blobs;
    private readonly ImageBuildQueue _builds;
    private readonly IStepExecutor? _executor;
    private readonly EvaluationOptions _options;
    private readonly ILogger<EvaluationService> _logger;

    public EvaluationService(EvaluationStore store, ModelStore models, DatasetStore datasets, IBlobStore blobs, ImageBuildQueue builds,
        FeatherEvents events, IOptions<EvaluationOptions> options, ILogger<EvaluationService> logger, IStepExecutor? executor = null)
    {
        _store = store;
        _models = models;
        _datasets = datasets;
        _blobs = blobs;
        _builds = builds;
        _executor = executor;
        _options = options.Value;
        _logger = logger;
        events.VersionImageReady += OnVersionReady;
        events.DatasetVersionPublished += OnDatasetPublished;
    }

    public ChannelReader<string> Queue => _queue.Reader;

    public EvaluationOptions Options => _options;

    /// <summary>The task and entrypoint a version declares for evaluation (metadata "predict"), or null.</summary>
    public static (string Task, string Entrypoint)? Predict(VersionRecord version)
    {
        using var doc = JsonDocument.Parse(version.MetadataJson);
        var root = doc.RootElement;
        if (!root.TryGetProperty("predict", out var predict) || predict.ValueKind != JsonValueKind.Object) return null;
        if (!predict.TryGetProperty("task", out var task) || task.ValueKind != JsonValueKind.String) return null;
        var entrypoint = root.TryGetProperty("entrypoint", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "model.py";
        return (task.GetString()!, entrypoint);
    }

    /// <summary>
    /// Which datasets a model is scored on without being asked: public datasets, and the datasets of the model's own
    /// owner (the same user or team) whatever their visibility. Never another owner's private or unlisted dataset, and
    /// never a training split (<c>"split": "train"</c>: what a model learnt from says nothing of how well it generalises).
    /// </summary>
    public static bool AutomaticallyPaired(ModelRecord model, DatasetRecord dataset) =>
        !dataset.IsTraining && (dataset.Visibility == Visibility.Public || dataset.Owner == model.Owner);

    private void OnVersionReady(string versionId)
    {
        var version = _models.FindVersionById(versionId);
        if (version is null || Predict(version) is not { } predict) return;
        var model = _models.FindById(version.ModelId);
        if (model is null) return;
        foreach (var dataset in _datasets.All().Where(d => d.Task == predict.Task && d.LatestVersion > 0 && AutomaticallyPaired(model, d)))
            Enqueue(model, version, dataset, dataset.LatestVersion, EvaluationTrigger.ModelReady, null);
    }

    private void OnDatasetPublished(string datasetId, int number)
    {
        var dataset = _datasets.All().FirstOrDefault(d => d.Id == datasetId);
        if (dataset is null) return;
        foreach (var model in _models.All().Where(m => m.LiveVersion is not null && AutomaticallyPaired(m, dataset)))
        {
            var version = _models.FindVersion(model.Id, model.LiveVersion!.Value);
            if (version is null || version.ImageStatus != ImageStatus.Ready || Predict(version)?.Task != dataset.Task) continue;
            Enqueue(model, version, dataset, number, EvaluationTrigger.DatasetPublished, null);
        }
    }

    /// <summary>Records and queues an evaluation unless the same pair is already queued, running or done (automatic triggers).</summary>
    private void Enqueue(ModelRecord model, VersionRecord version, DatasetRecord dataset, int datasetVersion, string trigger, string? requestedBy)
    {
        if (_store.Existing(model.Id, version.Number, dataset.Id, datasetVersion) is not null) return;
        var evaluation = Create(model, version, dataset, _datasets.FindVersion(dataset.Id, datasetVersion)!, trigger, requestedBy);
        LogQueued(evaluation.Id, model.Key, version.Number, dataset.Key, datasetVersion, trigger);
    }

    private EvaluationRecord Create(ModelRecord model, VersionRecord version, DatasetRecord dataset, DatasetVersionRecord dv, string trigger, string? requestedBy)
    {
        var evaluation = new EvaluationRecord
        {
            Id = "ev-" + Ids.New(8), ModelId = model.Id, ModelOwner = model.Owner, ModelName = model.Name, ModelVersion = version.Number,
            DatasetId = dataset.Id, DatasetOwner = dataset.Owner, DatasetName = dataset.Name, DatasetVersion = dv.Number, Task = dataset.Task,
            Trigger = trigger, RequestedBy = requestedBy, RecordCount = dv.RecordCount, CreatedAt = DateTime.UtcNow,
        };
        _store.Insert(evaluation);
        _queue.Writer.TryWrite(evaluation.Id);
        return evaluation;
    }

    /// <summary>On demand: the caller must be able to read the model and the dataset.</summary>
    public EvaluationStart Start(StartEvaluationRequest request, Caller caller)
    {
        var (modelOwner, modelName) = Split(request.Model);
        var model = modelOwner is null ? null : _models.Find(modelOwner, modelName!);
        if (model is null || !_models.CanRead(model, caller))
            return new(EvaluationStartStatus.ModelNotFound, null, $"no model {request.Model} (give it as OWNER/MODEL)");
        var number = _models.Resolve(model, request.Version);
        var version = number is null ? null : _models.FindVersion(model.Id, number.Value);
        if (version is null)
            return new(EvaluationStartStatus.UnknownVersion, null,
                request.Version is null ? $"{model.Key} has no live version" : $"{model.Key} has no version or tag '{request.Version}'");
        var (datasetOwner, datasetName) = Split(request.Dataset);
        var dataset = datasetOwner is null ? null : _datasets.Find(datasetOwner, datasetName!);
        if (dataset is null || !_datasets.CanRead(dataset, caller))
            return new(EvaluationStartStatus.DatasetNotFound, null, $"no dataset {request.Dataset} (give it as OWNER/NAME)");
        var dv = _datasets.FindVersion(dataset.Id, request.DatasetVersion ?? dataset.LatestVersion);
        if (dv is null) return new(EvaluationStartStatus.UnknownDatasetVersion, null, $"the dataset {dataset.Key} has no version {request.DatasetVersion}");
        var predict = Predict(version);
        if (predict is null)
            return new(EvaluationStartStatus.NotEvaluable, null,
                $"{model.Key} version {version.Number} declares no predict function (ftr.build(..., predict=fn) with @ftr.predict(task=...))");
        if (predict.Value.Task != dataset.Task)
            return new(EvaluationStartStatus.NotEvaluable, null,
                $"{model.Key} version {version.Number} predicts for {predict.Value.Task}; the dataset {dataset.Key} is for {dataset.Task}");
        var running = _store.Existing(model.Id, version.Number, dataset.Id, dv.Number);
        if (running is { Status: EvaluationStatus.Queued or EvaluationStatus.Running })
            return new(EvaluationStartStatus.AlreadyRunning, running);
        var evaluation = Create(model, version, dataset, dv, EvaluationTrigger.OnDemand, caller.Username);
        LogQueued(evaluation.Id, model.Key, version.Number, dataset.Key, dv.Number, EvaluationTrigger.OnDemand);
        return new(EvaluationStartStatus.Started, evaluation);
    }

    private static (string? Owner, string? Name) Split(string? key)
    {
        var parts = (key ?? "").Split('/');
        return parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0 ? (parts[0], parts[1]) : (null, null);
    }

    public EvaluationCancelStatus Cancel(string id, Caller caller)
    {
        var evaluation = _store.Find(id);
        if (evaluation is null || !_store.CanSee(evaluation, caller)) return EvaluationCancelStatus.NotFound;
        if (!_store.CanCancel(evaluation, caller)) return EvaluationCancelStatus.Forbidden;
        if (EvaluationStatus.IsTerminal(evaluation.Status)) return EvaluationCancelStatus.AlreadyFinished;
        if (_running.TryGetValue(id, out var cts))
        {
            cts.Cancel(); // the runner kills the container and records the cancellation
            return EvaluationCancelStatus.Cancelled;
        }
        evaluation.Status = EvaluationStatus.Cancelled;
        evaluation.Error = "cancelled before it started";
        evaluation.FinishedAt = DateTime.UtcNow;
        _store.Save(evaluation);
        return EvaluationCancelStatus.Cancelled;
    }

    /// <summary>At start: queued evaluations are queued again; one that was running when the server stopped failed.</summary>
    public void Recover()
    {
        foreach (var evaluation in _store.Unfinished())
        {
            if (evaluation.Status == EvaluationStatus.Queued)
            {
                _queue.Writer.TryWrite(evaluation.Id);
                continue;
            }
            evaluation.Status = EvaluationStatus.Failed;
            evaluation.Error = "the server stopped during the evaluation; start it again";
            evaluation.FinishedAt = DateTime.UtcNow;
            _store.Save(evaluation);
        }
    }

    /// <summary>Runs one queued evaluation to its end (succeeded, failed or cancelled). Never throws for the model's faults.</summary>
    public async Task RunAsync(string id, CancellationToken stopping)
    {
        var evaluation = _store.Find(id);
        if (evaluation is null || evaluation.Status != EvaluationStatus.Queued) return;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[id] = cts;
        var clock = Stopwatch.StartNew();
        var log = new StringBuilder();
        try
        {
            evaluation.Status = EvaluationStatus.Running;
            evaluation.StartedAt = DateTime.UtcNow;
            _store.Save(evaluation);
            var error = await ScoreAsync(evaluation, log, cts.Token);
            evaluation.Status = error is null ? EvaluationStatus.Succeeded : EvaluationStatus.Failed;
            evaluation.Error = error;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            evaluation.Status = stopping.IsCancellationRequested ? EvaluationStatus.Failed : EvaluationStatus.Cancelled;
            evaluation.Error = stopping.IsCancellationRequested ? "the server stopped during the evaluation; start it again" : "cancelled";
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Evaluation {Id} failed unexpectedly", id);
            evaluation.Status = EvaluationStatus.Failed;
            evaluation.Error = $"the evaluation failed on the server: {e.Message}";
        }
        finally
        {
            _running.TryRemove(id, out _);
        }
        evaluation.FinishedAt = DateTime.UtcNow;
        evaluation.Seconds = clock.Elapsed.TotalSeconds;
        lock (log) evaluation.Logs = Cap(log.ToString());
        _store.Save(evaluation);
        LogFinished(id, evaluation.Status, evaluation.Seconds ?? 0, evaluation.Error ?? "");
    }

    private string Cap(string text) =>
        Encoding.UTF8.GetByteCount(text) <= _options.MaxLogBytes ? text : "[earlier log cut]\n" + text[^(_options.MaxLogBytes / 2)..];

    /// <summary>Returns null when scored, else why it failed.</summary>
    private async Task<string?> ScoreAsync(EvaluationRecord evaluation, StringBuilder log, CancellationToken ct)
    {
        if (_executor is null) return "this server has no runner for model containers";
        var task = EvaluationTasks.Find(evaluation.Task);
        if (task is null) return $"unknown task '{evaluation.Task}'";
        var dv = _datasets.FindVersion(evaluation.DatasetId, evaluation.DatasetVersion);
        if (dv is null) return "the dataset version no longer exists";
        var version = await ReadyVersionAsync(evaluation, ct);
        if (version.Error is not null) return version.Error;
        var predict = Predict(version.Version!);
        if (predict is null || predict.Value.Task != task.Name) return $"the model version declares no predict function for {task.Name}";

        using var manifestDoc = JsonDocument.Parse(dv.ManifestJson);
        var manifest = DatasetManifest.Parse(manifestDoc.RootElement, _ => null).Manifest
                       ?? throw new InvalidOperationException("the stored manifest does not parse");
        // a dataset with several label fields is scored on the first one (docs/datasets.md); the others stay here too
        var labelField = manifest.Fields.First(f => f.IsLabel);
        var inputFields = manifest.Fields.Where(f => !f.IsLabel).ToArray();
        evaluation.LabelField = labelField.Name;
        _store.Save(evaluation);
        var files = dv.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var fieldsJson = new JsonArray([.. inputFields.Select(f => (JsonNode)new JsonObject { ["name"] = f.Name, ["type"] = f.Type })]);

        var labels = new List<JsonElement>();
        var predictions = new List<JsonElement>();
        var chunk = new JsonArray();
        long chunkBytes = 0;
        var chunkIndex = 0;

        async Task<string?> Flush()
        {
            if (chunk.Count == 0) return null;
            var start = predictions.Count;
            var request = new JsonObject
            {
                ["protocol"] = 1, ["mode"] = "evaluate", ["entrypoint"] = predict.Value.Entrypoint, ["fields"] = fieldsJson.DeepClone(), ["records"] = chunk,
            };
            var count = chunk.Count;
            chunk = [];
            chunkBytes = 0;
            chunkIndex++;
            string logText;
            lock (log)
            {
                log.Append($"--- chunk {chunkIndex}: records {start}..{start + count - 1} ---\n");
                logText = log.ToString();
            }
            var liveFrom = logText.Length;
            var live = new LiveLog(log, text =>
            {
                evaluation.Logs = Cap(text); // lines as the container writes them, for whoever watches it run
                _store.Save(evaluation);
            });
            var execution = new StepExecutionRequest(version.Version!.VersionImage!, version.Version.Environment.Profile, request.ToJsonString(),
                new Dictionary<string, string>
                {
                    ["org.feather.evaluation"] = evaluation.Id, ["org.feather.model"] = evaluation.ModelId,
                    ["org.feather.version"] = evaluation.ModelVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
                },
                User: $"evaluation:{evaluation.ModelOwner}", Log: live);
            StepExecutionResult result;
            try
            {
                result = await _executor.ExecuteAsync(execution, ct);
            }
            finally
            {
                live.Stop();
            }
            lock (log)
            {
                // the chunk's whole stderr replaces the lines seen live
                log.Length = liveFrom;
                log.Append(result.Logs);
            }
            if (result.Outcome == StepOutcome.Cancelled) throw new OperationCanceledException(ct);
            if (result.Outcome != StepOutcome.Succeeded)
                return $"records {start}..{start + count - 1}: {result.Message}";
            if (result.Result is not { } line || !line.TryGetProperty("predictions", out var returned) || returned.ValueKind != JsonValueKind.Array)
                return $"records {start}..{start + count - 1}: the runtime's result has no 'predictions' array";
            var got = returned.GetArrayLength();
            if (got != count)
                return $"the model returned {got} predictions for {count} records (records {start}..{start + count - 1}); predict must return exactly one prediction per record, in order";
            var k = 0;
            foreach (var p in returned.EnumerateArray())
            {
                if (EvaluationMetrics.Problem(task, p) is { } problem) return $"the prediction for record {start + k} {problem}";
                predictions.Add(EvaluationMetrics.Normalise(task, p).Clone());
                k++;
            }
            evaluation.RecordsDone = predictions.Count;
            lock (log) evaluation.Logs = Cap(log.ToString()); // the log so far, readable while it runs
            _store.Save(evaluation);
            return null;
        }

        var recordsFile = files[dv.Records];
        await using (var stream = await _blobs.OpenReadAsync(recordsFile.Sha256, ct))
        {
            await foreach (var record in DatasetRecords.ReadAsync(stream, manifest, path => files.ContainsKey(path) ? null : "no such file", ct))
            {
                if (record.Problems.Count > 0) return $"the dataset's records: {record.Problems[0]}";
                labels.Add(JsonSerializer.SerializeToElement(record.Values[labelField.Name]));
                // only the input fields leave the server: the label fields are not in Inputs()
                var inputs = record.Inputs(manifest);
                foreach (var field in inputFields.Where(f => f.IsFile))
                {
                    if (inputs[field.Name] is not JsonValue v || !v.TryGetValue<string>(out var path)) continue;
                    await using var blob = await _blobs.OpenReadAsync(files[path].Sha256, ct);
                    using var buffer = new MemoryStream();
                    await blob.CopyToAsync(buffer, ct);
                    inputs[field.Name] = new JsonObject
                    {
                        ["name"] = path, ["media_type"] = MediaType(path), ["data"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length),
                    };
                }
                var size = Encoding.UTF8.GetByteCount(inputs.ToJsonString());
                if (chunk.Count > 0 && (chunk.Count >= _options.ChunkRecords || chunkBytes + size > _options.ChunkBytes))
                    if (await Flush() is { } failure) return failure;
                chunk.Add(inputs);
                chunkBytes += size;
            }
        }
        if (await Flush() is { } last) return last;
        if (labels.Count == 0) return "the dataset version has no records";

        var classes = labelField.Classes;
        var scores = EvaluationMetrics.Compute(task, labels, predictions, classes);
        evaluation.Metrics = scores.Metrics;
        evaluation.Classes = scores.Classes;
        evaluation.PerClassRecall = scores.PerClassRecall;
        evaluation.ConfusionMatrix = scores.ConfusionMatrix;
        evaluation.OtherPredictions = scores.OtherPredictions;
        evaluation.RecordCount = labels.Count;
        var stored = new List<ScoredRecord>(Math.Min(labels.Count, EvaluationStore.MaxStoredRecords));
        for (var i = 0; i < labels.Count && i < EvaluationStore.MaxStoredRecords; i++)
            stored.Add(new ScoredRecord
            {
                Index = i, Label = labels[i].GetRawText(), Prediction = predictions[i].GetRawText(), Correct = scores.Records[i].Correct,
                Score = scores.Records[i].Score,
            });
        _store.SaveRecords(evaluation.Id, stored, labels.Count > EvaluationStore.MaxStoredRecords);
        return null;
    }

    /// <summary>Longest text of an input field the per-record view shows; longer ones are cut and end with "…".</summary>
    public const int MaxInputChars = 2000;

    /// <summary>
    /// The input fields of the records at <paramref name="indices"/> of the evaluation's dataset version (for the per-record view):
    /// the records file is streamed from the blob store up to the last index asked for. Labels are not in them.
    /// Null when the dataset version is gone.
    /// </summary>
    public async Task<(Dictionary<long, JsonObject> Inputs, DatasetField[] Fields)?> InputsAsync(EvaluationRecord evaluation, IReadOnlyCollection<long> indices,
        CancellationToken ct)
    {
        var dv = _datasets.FindVersion(evaluation.DatasetId, evaluation.DatasetVersion);
        if (dv is null) return null;
        using var manifestDoc = JsonDocument.Parse(dv.ManifestJson);
        var manifest = DatasetManifest.Parse(manifestDoc.RootElement, _ => null).Manifest
                       ?? throw new InvalidOperationException("the stored manifest does not parse");
        var fields = manifest.Fields.Where(f => !f.IsLabel).ToArray();
        var found = new Dictionary<long, JsonObject>();
        if (indices.Count == 0) return (found, fields);
        var wanted = indices.ToHashSet();
        var last = wanted.Max();
        var files = dv.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        if (!files.TryGetValue(dv.Records, out var recordsFile)) return null;
        await using var stream = await _blobs.OpenReadAsync(recordsFile.Sha256, ct);
        long index = 0;
        await foreach (var record in DatasetRecords.ReadAsync(stream, manifest, _ => null, ct))
        {
            if (wanted.Contains(index))
            {
                var inputs = record.Inputs(manifest);
                foreach (var (name, value) in inputs.ToList())
                    if (value is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > MaxInputChars)
                        inputs[name] = text[..MaxInputChars] + "…";
                found[index] = inputs;
            }
            if (++index > last) break;
        }
        return (found, fields);
    }

    /// <summary>The version with a ready image: a removed image is rebuilt, a pending or building one waited for.</summary>
    private async Task<(VersionRecord? Version, string? Error)> ReadyVersionAsync(EvaluationRecord evaluation, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(_options.ImageWaitSeconds);
        while (true)
        {
            var version = _models.FindVersion(evaluation.ModelId, evaluation.ModelVersion);
            if (version is null) return (null, "the model version no longer exists");
            switch (version.ImageStatus)
            {
                case ImageStatus.Ready when version.VersionImage is not null:
                    return (version, null);
                case ImageStatus.Failed:
                    return (null, $"the image of the model version failed to build: {version.ImageError}");
                case ImageStatus.Removed:
                    version.ImageStatus = ImageStatus.Pending;
                    version.ImageError = null;
                    _models.SaveVersion(version);
                    _builds.Enqueue(version.Id);
                    break;
            }
            if (DateTime.UtcNow > deadline) return (null, $"the image of the model version is still {version.ImageStatus} after {_options.ImageWaitSeconds} s");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    internal static string MediaType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => "image/png",
        ".jpg" or ".jpeg" => "image/jpeg",
        ".gif" => "image/gif",
        ".webp" => "image/webp",
        ".bmp" => "image/bmp",
        ".txt" => "text/plain",
        ".json" => "application/json",
        ".csv" => "text/csv",
        _ => "application/octet-stream",
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Evaluation {Id} queued: {Model} version {Version} on {Dataset} version {DatasetVersion} ({Trigger})")]
    private partial void LogQueued(string id, string model, int version, string dataset, int datasetVersion, string trigger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Evaluation {Id} {Status} in {Seconds:F1} s {Error}")]
    private partial void LogFinished(string id, string status, double seconds, string error);
}

/// <summary>
/// A chunk's stderr lines as the executor reports them, appended to the evaluation's log and saved at most once a second
/// (the first line at once), so the log can be read while the evaluation runs. Nothing is saved after <see cref="Stop"/>.
/// </summary>
internal sealed class LiveLog(StringBuilder log, Action<string> save) : IProgress<string>
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(1);
    private DateTime _saved = DateTime.MinValue;
    private bool _stopped;

    public void Report(string line)
    {
        // saved under the lock, so a save can never land after Stop() and overwrite the chunk's final log
        lock (log)
        {
            if (_stopped) return;
            log.Append(line).Append('\n');
            if (DateTime.UtcNow - _saved < Every) return;
            _saved = DateTime.UtcNow;
            save(log.ToString());
        }
    }

    public void Stop()
    {
        lock (log) _stopped = true;
    }
}

/// <summary>Takes queued evaluations, up to <see cref="EvaluationOptions.MaxConcurrent"/> at once.</summary>
internal sealed class EvaluationWorker(EvaluationService service, ILogger<EvaluationWorker> logger) : BackgroundService
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
                    logger.LogError(e, "Evaluation {Id} could not run", id);
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

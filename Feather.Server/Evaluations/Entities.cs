using Feather.Contracts;

namespace Feather.Server.Evaluations;

/// <summary>
/// One evaluation of a model version on a dataset version: what started it, where it is, and once it
/// succeeded its metrics. The per-record predictions live in <see cref="EvaluationPredictionsRecord"/>.
/// </summary>
public sealed class EvaluationRecord
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string ModelOwner { get; set; } = "";
    public string ModelName { get; set; } = "";
    public int ModelVersion { get; set; }
    public string DatasetId { get; set; } = "";
    public string DatasetOwner { get; set; } = "";
    public string DatasetName { get; set; } = "";
    public int DatasetVersion { get; set; }
    public string Task { get; set; } = "";
    public string Status { get; set; } = EvaluationStatus.Queued;
    public string Trigger { get; set; } = EvaluationTrigger.OnDemand;
    public string? RequestedBy { get; set; }
    public Dictionary<string, double> Metrics { get; set; } = [];
    public List<string>? Classes { get; set; }
    public Dictionary<string, double?>? PerClassRecall { get; set; }
    public List<long[]>? ConfusionMatrix { get; set; }
    public bool OtherPredictions { get; set; }
    public long RecordCount { get; set; }
    public long RecordsDone { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public double? Seconds { get; set; }
    public string? Error { get; set; }
    public string Logs { get; set; } = "";
}

/// <summary>The scored records of an evaluation (at most <see cref="EvaluationStore.MaxStoredRecords"/>), keyed by the evaluation's id.</summary>
public sealed class EvaluationPredictionsRecord
{
    public string Id { get; set; } = "";
    public List<ScoredRecord> Records { get; set; } = [];
    public bool Truncated { get; set; }
}

/// <summary>A record's label and prediction as JSON text, and how it scored.</summary>
public sealed class ScoredRecord
{
    public long Index { get; set; }
    public string Label { get; set; } = "null";
    public string Prediction { get; set; } = "null";
    public bool Correct { get; set; }
    public double? Score { get; set; }
}

public static class EvaluationMapping
{
    public static EvaluationView ToView(this EvaluationRecord e)
    {
        var task = EvaluationTasks.Find(e.Task);
        var primary = task?.PrimaryMetric ?? "";
        double? score = e.Status == EvaluationStatus.Succeeded && e.Metrics.TryGetValue(primary, out var s) ? s : null;
        return new EvaluationView(e.Id, e.ModelOwner, e.ModelName, e.ModelVersion, e.DatasetOwner, e.DatasetName, e.DatasetVersion,
            e.Task, e.Status, e.Trigger, e.RequestedBy, new Dictionary<string, double>(e.Metrics), primary, score, e.RecordCount,
            e.RecordsDone, e.CreatedAt, e.StartedAt, e.FinishedAt, e.Seconds, e.Error);
    }

    public static EvaluationDetail ToDetail(this EvaluationRecord e) =>
        new(e.ToView(), e.Classes?.ToArray(), e.PerClassRecall is null ? null : new Dictionary<string, double?>(e.PerClassRecall),
            e.ConfusionMatrix?.ToArray(), e.OtherPredictions, e.Logs);

    public static EvaluationRecordView ToView(this ScoredRecord r) =>
        new(r.Index, Parse(r.Label), Parse(r.Prediction), r.Correct, r.Score);

    private static System.Text.Json.JsonElement Parse(string json)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

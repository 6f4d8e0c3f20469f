using System.Text.Json;

namespace Feather.Contracts;

/// <summary>The states of an evaluation; succeeded, failed and cancelled are terminal.</summary>
public static class EvaluationStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public static readonly string[] All = [Queued, Running, Succeeded, Failed, Cancelled];
    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>What started an evaluation.</summary>
public static class EvaluationTrigger
{
    /// <summary>A model version's image became ready (docs/datasets.md, "Evaluation").</summary>
    public const string ModelReady = "model-ready";
    /// <summary>A dataset version of the model's task was published.</summary>
    public const string DatasetPublished = "dataset-published";
    /// <summary>Someone asked (<c>POST /api/evaluations</c>, <c>feather evaluate</c>).</summary>
    public const string OnDemand = "on-demand";
}

/// <summary>A metric of a task: its key in <see cref="EvaluationView.Metrics"/>, a display name, and which way is better.</summary>
public sealed record MetricInfo(string Name, string Title, bool HigherIsBetter, string Description);

/// <summary>
/// A task models can be scored on: its metrics, the one leaderboards rank by, and what one prediction is
/// (<c>label</c>: a class name string, <c>number</c>, <c>text</c>: a string).
/// </summary>
public sealed record EvaluationTaskInfo(string Name, MetricInfo[] Metrics, string PrimaryMetric, string Prediction, bool PerClass)
{
    public MetricInfo Primary => Metrics.First(m => m.Name == PrimaryMetric);
    public MetricInfo? Metric(string name) => Metrics.FirstOrDefault(m => m.Name == name);
}

/// <summary>An evaluation as lists and leaderboards show it.</summary>
/// <param name="Metrics">Metric name → value (see <see cref="EvaluationTasks"/>); empty until it succeeds.</param>
/// <param name="PrimaryMetric">The task's primary metric name; <paramref name="Score"/> is its value once succeeded.</param>
/// <param name="RecordCount">Records in the dataset version; <paramref name="RecordsDone"/> of them have a prediction so far.</param>
/// <param name="Seconds">Wall time from start to the stored result (null until terminal).</param>
public sealed record EvaluationView(
    string Id, string ModelOwner, string Model, int ModelVersion, string DatasetOwner, string Dataset, int DatasetVersion,
    string Task, string Status, string Trigger, string? RequestedBy, Dictionary<string, double> Metrics, string PrimaryMetric,
    double? Score, long RecordCount, long RecordsDone, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt,
    double? Seconds, string? Error);

/// <summary>An evaluation with its per-class results (classification tasks) and its log.</summary>
/// <param name="Classes">The class labels, in the order of <paramref name="ConfusionMatrix"/>'s rows (true) and columns (predicted).</param>
/// <param name="PerClassRecall">Class → recall (null for a class with no record).</param>
/// <param name="ConfusionMatrix">[true class][predicted class] → count; predictions outside the classes are counted in an extra last column "(other)" when any.</param>
public sealed record EvaluationDetail(
    EvaluationView Evaluation, string[]? Classes, Dictionary<string, double?>? PerClassRecall, long[][]? ConfusionMatrix,
    bool OtherPredictions, string Logs);

/// <summary>One scored record: its label, the model's prediction, and whether it was right (classification, exact match) or how far off (regression: absolute error; QA: token F1).</summary>
public sealed record EvaluationRecordView(long Index, JsonElement Label, JsonElement Prediction, bool Correct, double? Score);

/// <param name="Total">Scored records stored (at most the server's per-evaluation bound); <paramref name="Truncated"/> when the dataset had more.</param>
public sealed record EvaluationRecordsPage(string EvaluationId, long Total, bool Truncated, int Offset, EvaluationRecordView[] Records);

/// <param name="Model">OWNER/MODEL.</param>
/// <param name="Version">A version number or tag (default: the live version).</param>
/// <param name="Dataset">OWNER/NAME.</param>
/// <param name="DatasetVersion">Default: the latest version.</param>
public sealed record StartEvaluationRequest(string Model, string Dataset, string? Version = null, int? DatasetVersion = null);

/// <summary>The data of an evaluation's <c>progress</c> server-sent event.</summary>
public sealed record EvaluationProgressEvent(string Status, long RecordsDone, long RecordCount);

using System.Text.Json;

namespace Feather.Contracts;

/// <summary>The states of a fine-tune job; succeeded, failed and cancelled are terminal.</summary>
public static class FinetuneStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    /// <summary>The training function finished; its files are being recorded as the new version.</summary>
    public const string Saving = "saving";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public static readonly string[] All = [Queued, Running, Saving, Succeeded, Failed, Cancelled];
    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <param name="Model">OWNER/MODEL: the model to fine-tune.</param>
/// <param name="Dataset">OWNER/NAME: the dataset to train on.</param>
/// <param name="Version">A version number or tag of the model (default: the live version).</param>
/// <param name="DatasetVersion">Default: the latest version.</param>
/// <param name="Params">Hyperparameters by name, as the model's training function declares them (metadata <c>train.params</c>); the others take their defaults.</param>
public sealed record StartFinetuneRequest(string Model, string Dataset, string? Version = null, int? DatasetVersion = null,
    Dictionary<string, JsonElement>? Params = null);

/// <summary>One <c>ftr.report(...)</c> of a training function.</summary>
public sealed record FinetuneProgress(int? Epoch, int? Epochs, Dictionary<string, double> Metrics, DateTime At);

/// <summary>A fine-tune job as lists show it.</summary>
/// <param name="Params">The hyperparameters the job trains with (the defaults filled in).</param>
/// <param name="Metrics">The last value of each metric the training function reported.</param>
/// <param name="Progress">The latest report (null before the first).</param>
/// <param name="ResultModel">OWNER/MODEL the new version belongs to: the base model when the caller may publish to it, else the caller's OWNER/MODEL-ft.</param>
/// <param name="ResultVersion">The new version's number, once the job succeeded.</param>
public sealed record FinetuneView(
    string Id, string BaseModel, int BaseVersion, string Dataset, int DatasetVersion, string RequestedBy, string Status,
    JsonElement Params, Dictionary<string, double> Metrics, FinetuneProgress? Progress, string ResultModel, int? ResultVersion,
    DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, double? Seconds, string? Error);

/// <summary>A fine-tune job with every progress report and its log (the training function's output, a traceback when it raised).</summary>
public sealed record FinetuneDetail(FinetuneView Job, FinetuneProgress[] History, string Logs);

/// <summary>The data of a fine-tune job's <c>log</c> server-sent event: the log text added since the previous one.</summary>
public sealed record FinetuneLogEvent(string Text);

/// <summary>Where a version made by a fine-tune job came from (null on a published version).</summary>
/// <param name="Job">The fine-tune job's id.</param>
/// <param name="BaseModel">OWNER/MODEL of the version it was trained from.</param>
/// <param name="Dataset">OWNER/NAME of the dataset it was trained on.</param>
/// <param name="Logs">The job's log (on one version's detail, for whoever may change the model; empty elsewhere).</param>
public sealed record VersionLineage(string Job, string BaseModel, int BaseVersion, string Dataset, int DatasetVersion,
    JsonElement Params, Dictionary<string, double> Metrics, string RequestedBy, string Logs = "");

using System.Text.Json;

namespace Feather.Server.Runs;

public static class StepStatus
{
    public const string Pending = "pending";            // an earlier step has not succeeded yet
    public const string AwaitingInput = "awaiting_input";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string InvalidInput = "invalid_input";
    public const string TimedOut = "timed_out";
    public const string Cancelled = "cancelled";
    public const string Stale = "stale";                // an earlier step was re-run; run this one again

    public static bool IsActive(string s) => s is Queued or Running;
    public static bool IsTerminal(string s) => s is Succeeded or Failed or InvalidInput or TimedOut or Cancelled;
}

public sealed class RunStepRecord
{
    public int Index { get; set; }
    public string Name { get; set; } = "";
    public string Status { get; set; } = StepStatus.Pending;
    public string? ResponsesJson { get; set; }
    /// <summary>The runtime's "outputs" array, verbatim: the "previous" of the next step.</summary>
    public string? OutputsJson { get; set; }
    public string? ErrorJson { get; set; }
    public string? Message { get; set; }
    public string Logs { get; set; } = "";
    public DateTime? QueuedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? EndedAt { get; set; }
}

public sealed class RunRecord
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Model { get; set; } = "";
    public int Version { get; set; }
    public string? CreatedBy { get; set; }
    public DateTime CreatedAt { get; set; }
    public List<RunStepRecord> Steps { get; set; } = [];
}

public sealed record StepView(int Index, string Name, string Status, JsonElement? Outputs, JsonElement? Error, string? Message,
    string Logs, DateTime? QueuedAt, DateTime? StartedAt, DateTime? EndedAt);

/// <summary>The data of a step's <c>log</c> server-sent event: the log text added since the previous one.</summary>
public sealed record StepLogEvent(int Index, string Text);

public sealed record RunView(string Id, string Owner, string Model, int Version, string? CreatedBy, DateTime CreatedAt, StepView[] Steps);

public sealed record StartRunRequest(string? Version = null);

public sealed record SubmitStepRequest(JsonElement Responses);

/// <param name="Version">A version number or tag (default: the live version).</param>
public sealed record ExecuteRequest(JsonElement Responses, string? Version = null);

public sealed record ExecutionView(string RunId, StepView Step);

public static class RunMapping
{
    public static StepView ToView(this RunStepRecord s) =>
        new(s.Index, s.Name, s.Status, Parse(s.OutputsJson), Parse(s.ErrorJson), s.Message, s.Logs, s.QueuedAt, s.StartedAt, s.EndedAt);

    public static RunView ToView(this RunRecord r) =>
        new(r.Id, r.Owner, r.Model, r.Version, r.CreatedBy, r.CreatedAt, r.Steps.Select(ToView).ToArray());

    private static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

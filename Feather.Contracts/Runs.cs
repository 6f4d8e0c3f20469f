using System.Text.Json;

namespace Feather.Contracts;

/// <param name="Status">One of <see cref="StepStatus"/>.</param>
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

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

/// <summary>A file of a run (a step input uploaded by a client, or a step output), as <c>POST /api/runs/{runId}/files</c> answers it.</summary>
/// <param name="Url">Where to download it (the same caller only).</param>
public sealed record RunFileView(string Id, string Name, string MediaType, long Size, string Url);

/// <summary>The server's limits on step files (FEATHER_MAX_STEP_FILE_BYTES, FEATHER_MAX_STEP_BYTES), for clients to check before they send.</summary>
public sealed record LimitsView(long MaxStepFileBytes, long MaxStepBytes);

using System.Text.Json;

namespace Feather.Contracts;

/// <summary>One step of a run's path (a linear model's path is its steps in order).</summary>
/// <param name="Index">The position on the run's path (the step's index in a linear model).</param>
/// <param name="Name">The model's step at that position.</param>
/// <param name="Status">One of <see cref="StepStatus"/>.</param>
/// <param name="Iteration">How many times in a row this step has run at this point of the path (1 but in a loop).</param>
/// <param name="Branch">The branch the step's result took (a branching step's condition name; a loop's again or done), set by the server from what the step returned.</param>
/// <param name="Next">Once the step succeeded: the steps that may come next, the model's choice first (empty: none).</param>
/// <param name="Ends">Once the step succeeded: whether the run may end after it.</param>
public sealed record StepView(int Index, string Name, string Status, JsonElement? Outputs, JsonElement? Error, string? Message,
    string Logs, DateTime? QueuedAt, DateTime? StartedAt, DateTime? EndedAt,
    int Iteration = 1, string? Branch = null, string[]? Next = null, bool Ends = false);

/// <summary>The data of a step's <c>log</c> server-sent event: the log text added since the previous one.</summary>
public sealed record StepLogEvent(int Index, string Text);

/// <param name="Steps">The run's path: the steps it took, in order, and the one it offers next.</param>
/// <param name="Complete">Every step on the path up to one that may end the run has succeeded.</param>
/// <param name="Discarded">Steps of a branch the run left when a re-run step took another branch (stale, newest last).</param>
public sealed record RunView(string Id, string Owner, string Model, int Version, string? CreatedBy, DateTime CreatedAt, StepView[] Steps,
    bool Complete = false, StepView[]? Discarded = null);

public sealed record StartRunRequest(string? Version = null);

/// <param name="Step">The step to run at this point of the path, by name: one of the steps the previous one offers
/// (<see cref="StepView.Next"/>); by default the one already there.</param>
public sealed record SubmitStepRequest(JsonElement Responses, string? Step = null);

/// <param name="Version">A version number or tag (default: the live version).</param>
public sealed record ExecuteRequest(JsonElement Responses, string? Version = null);

public sealed record ExecutionView(string RunId, StepView Step);

/// <summary>A file of a run (a step input uploaded by a client, or a step output), as <c>POST /api/runs/{runId}/files</c> answers it.</summary>
/// <param name="Url">Where to download it (the same caller only).</param>
public sealed record RunFileView(string Id, string Name, string MediaType, long Size, string Url);

/// <summary>The server's limits on step files (FEATHER_MAX_STEP_FILE_BYTES, FEATHER_MAX_STEP_BYTES), for clients to check before they send.</summary>
public sealed record LimitsView(long MaxStepFileBytes, long MaxStepBytes);

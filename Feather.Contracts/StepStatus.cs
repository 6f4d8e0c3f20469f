namespace Feather.Contracts;

/// <summary>
/// The status of a run's step, as <c>StepView.status</c> carries it. The only list of them: the
/// server's OpenAPI document publishes it (an enum with <c>x-feather-active</c> and
/// <c>x-feather-terminal</c>), and the SDK client and the portal read their tables from there.
/// </summary>
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

    /// <summary>Every status, in the order a step usually goes through them.</summary>
    public static readonly IReadOnlyList<string> All =
        [Pending, AwaitingInput, Queued, Running, Succeeded, Failed, InvalidInput, TimedOut, Cancelled, Stale];

    /// <summary>Statuses of a step that is still running: a client keeps waiting; it can be cancelled.</summary>
    public static readonly IReadOnlyList<string> Active = [Queued, Running];

    /// <summary>Statuses of a step that has ended: it has its outputs or its error.</summary>
    public static readonly IReadOnlyList<string> Terminal = [Succeeded, Failed, InvalidInput, TimedOut, Cancelled];

    public static bool IsActive(string s) => s is Queued or Running;
    public static bool IsTerminal(string s) => s is Succeeded or Failed or InvalidInput or TimedOut or Cancelled;
}

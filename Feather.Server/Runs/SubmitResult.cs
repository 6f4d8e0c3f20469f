namespace Feather.Server.Runs;

/// <summary>
/// What <see cref="RunService.SubmitAsync"/> made of a step submission: the step was queued, or why not.
/// RunsApi turns each refusal into its problem answer.
/// </summary>
public abstract record SubmitResult
{
    private SubmitResult() { }

    /// <summary>The step is queued: <paramref name="Step"/> as it was queued; <paramref name="Done"/> completes when it has finished.</summary>
    public sealed record Queued(StepView Step, Task<RunStepRecord> Done) : SubmitResult;

    /// <summary>No such step (404).</summary>
    public sealed record NotFound(string Message) : SubmitResult;

    /// <summary>The submission is malformed (400).</summary>
    public sealed record BadRequest(int Step, string Message) : SubmitResult;

    /// <summary>Responses that do not fit the step's inputs (400); <paramref name="Errors"/> holds at least one.</summary>
    public sealed record InvalidInput(int Step, string StepName, IReadOnlyList<StepInputError> Errors) : SubmitResult
    {
        /// <summary>The first invalid input.</summary>
        public string Input => Errors[0].Input;

        public string Message => Errors.Count == 1
            ? $"step {Step} ({StepName}), input '{Input}': {Errors[0].Message}"
            : $"step {Step} ({StepName}): {Errors.Count} inputs are invalid; " + string.Join("; ", Errors.Select(e => $"'{e.Input}': {e.Message}"));
    }

    /// <summary>The run's state does not allow the step now (409); <paramref name="ImageStatus"/> when the image is the reason.</summary>
    public sealed record Conflict(int Step, string Message, string? ImageStatus = null) : SubmitResult;

    /// <summary>The server cannot take the step (503); <paramref name="RetryAfter"/> when trying later may help.</summary>
    public sealed record Unavailable(string Message, TimeSpan? RetryAfter = null) : SubmitResult;

    /// <summary>A quota refuses the step (429): <see cref="IStepAdmission"/>.</summary>
    public sealed record QuotaExceeded(int Step, StepRefusal Refusal) : SubmitResult;
}

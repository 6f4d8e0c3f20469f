namespace Feather.Server.Runs;

/// <summary>
/// Decides, just before a step is queued, whether it may start (quotas). Called under the run's lock, after every
/// other check, so a step it admits is queued; <see cref="Admit"/> may reserve what the step will count against.
/// </summary>
public interface IStepAdmission
{
    /// <returns>Null to admit the step, else why not.</returns>
    StepRefusal? Admit(RunRecord run, int index, string profile);
}

/// <summary>A step refused before it starts (429): the message names the limit; <paramref name="RetryAfter"/> when it resets.</summary>
public sealed record StepRefusal(string Message, TimeSpan? RetryAfter, IReadOnlyDictionary<string, object?> Details);

/// <summary>Told of every step that finished (usage, monitoring); must not throw, and must be quick.</summary>
public interface IStepObserver
{
    void Finished(StepFinished finished);
}

/// <param name="Run">The run as stored once the step finished.</param>
/// <param name="Duration">How long the step's container ran (zero when it never started).</param>
public sealed record StepFinished(RunRecord Run, RunStepRecord Step, string Profile, TimeSpan Duration);

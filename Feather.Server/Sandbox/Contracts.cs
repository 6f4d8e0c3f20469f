using System.Text.Json;

namespace Feather.Server.Sandbox;

/// <summary>One step to run in a fresh sandbox container.</summary>
/// <param name="Image">The version image.</param>
/// <param name="Profile">low, medium or high: selects limits (and a GPU for high).</param>
/// <param name="RequestJson">The runtime request (docs/contracts.md section 3), written to the container's stdin.</param>
/// <param name="Labels">Extra labels (run, step, model ids); the executor adds its own ownership labels.</param>
/// <param name="User">Who asked: the queue is fair between users.</param>
/// <param name="Log">Receives the step's stderr lines as they arrive.</param>
/// <param name="Started">Called once the step leaves the queue and its container has started.</param>
/// <param name="User">Who submitted the step: the queue is fair between users (null: the anonymous users' shared queue).</param>
/// <param name="Log">Receives the step's stderr line by line as it arrives (within the log cap), for live logs.</param>
/// <param name="Entrypoint">The model file (metadata entrypoint): lets the runner use a container prepared ahead of the request.</param>
/// <param name="Output">Receives the runtime's stdout line by line as it arrives (a training job's progress events), within the output cap.</param>
/// <param name="TimeoutSeconds">The wall-clock limit instead of the profile's step timeout (a training job's: the profile's TrainingTimeoutSeconds).</param>
/// <param name="MaxOutputBytes">The stdout cap instead of Runner:MaxOutputBytes (a training job's result carries its files).</param>
public sealed record StepExecutionRequest(
    string Image,
    string Profile,
    string RequestJson,
    IReadOnlyDictionary<string, string> Labels,
    string? User = null,
    IProgress<string>? Log = null,
    Func<Task>? Started = null,
    string? Entrypoint = null,
    IProgress<string>? Output = null,
    int? TimeoutSeconds = null,
    int? MaxOutputBytes = null);

public enum StepOutcome
{
    /// <summary>The runtime reported status succeeded.</summary>
    Succeeded,
    /// <summary>The model raised; <see cref="StepExecutionResult.Result"/> holds the error detail.</summary>
    Failed,
    /// <summary>The runtime rejected the inputs; the result names the input.</summary>
    InvalidInput,
    TimedOut,
    OutOfMemory,
    /// <summary>The container exited without a result line (crash, killed, output cap exceeded).</summary>
    Crashed,
    Cancelled,
}

/// <summary>What happened to a step.</summary>
/// <param name="Result">The runtime's last stdout line (the result event), when there was one.</param>
/// <param name="Logs">The step's stderr (the model's prints), capped.</param>
/// <param name="Message">A one-line human explanation, e.g. "killed: out of memory (limit 512 MiB)".</param>
/// <param name="Container">The name of the container the step ran in (null when none was started).</param>
public sealed record StepExecutionResult(
    StepOutcome Outcome,
    JsonElement? Result,
    string Logs,
    string Message,
    TimeSpan Duration,
    string? Container = null);

/// <summary>Why an executor takes no new step now (its queue is full), and when trying again may help.</summary>
public sealed record StepRefusal(string Message, TimeSpan RetryAfter);

/// <summary>Runs one step in a new, hardened container and removes it afterwards.</summary>
public interface IStepExecutor
{
    Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct);

    /// <summary>
    /// Null when a step submitted now would run or wait its turn; else why it would be refused. Asked
    /// when a step is submitted, so the client is answered at once (503) instead of the step failing later.
    /// </summary>
    StepRefusal? Refusal => null;
}

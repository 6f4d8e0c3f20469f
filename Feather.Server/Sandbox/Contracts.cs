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
/// <param name="Files">How the step's files travel (null: no file area is filled or read).</param>
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
    StepFileTransfer? Files = null,
    IProgress<string>? Output = null,
    int? TimeoutSeconds = null,
    int? MaxOutputBytes = null);

/// <summary>One input file to put into the step's file area before the request is sent.</summary>
/// <param name="Path">Its path under the file area, e.g. <c>in/3fa2…</c>.</param>
/// <param name="Open">Opens it for reading (streamed into the container, never held whole).</param>
public sealed record StepInputFile(string Path, long Size, Func<Stream> Open);

/// <summary>Reads a file the step wrote into its file area, as a stream.</summary>
public interface IStepFileSource
{
    /// <summary>
    /// Copies the regular file at <paramref name="path"/> (under the file area) into <paramref name="write"/>'s
    /// stream; throws <see cref="InvalidDataException"/> when it is missing or not a regular file.
    /// </summary>
    Task<T> ReadAsync<T>(string path, Func<Stream, long, Task<T>> write, CancellationToken ct);
}

/// <summary>The files of one step: what goes in before it starts, and how its result's files come out.</summary>
/// <param name="Inputs">Files put under <c>in/</c> of the file area.</param>
/// <param name="CollectOutputs">
/// Given the runtime's succeeded result line, reads the files it names from the exited container and answers
/// the result to keep (its file paths replaced by the server's references). Throws
/// <see cref="StepFileRefusedException"/> to fail the step with a message (an output past a limit, a bad path).
/// </param>
public sealed record StepFileTransfer(
    IReadOnlyList<StepInputFile> Inputs,
    Func<JsonElement, IStepFileSource, CancellationToken, Task<JsonElement>> CollectOutputs);

/// <summary>A step's output file was refused (too large, a bad path): the step fails with <see cref="Exception.Message"/>.</summary>
public sealed class StepFileRefusedException(string type, string message) : Exception(message)
{
    public string Type { get; } = type;
}

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

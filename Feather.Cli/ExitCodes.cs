namespace Feather.Cli;

/// <summary>Exit codes of the <c>feather</c> command; documented in docs/cli.md. Scripts may rely on them.</summary>
public enum ExitCodes
{
    Ok = 0,
    /// <summary>Anything not covered below (a server error, a local I/O problem).</summary>
    Error = 1,
    /// <summary>The command line was wrong (unknown option, missing argument, malformed reference).</summary>
    Usage = 2,
    /// <summary>No credentials, or the server rejected them (401).</summary>
    NotLoggedIn = 3,
    /// <summary>The server could not be reached or did not answer in time.</summary>
    Unreachable = 4,
    /// <summary>The model, version, run or token does not exist (404).</summary>
    NotFound = 5,
    /// <summary>Input was refused: a bad inputs file, a model that does not inspect, a 400/422 from the server.</summary>
    ValidationFailed = 6,
    /// <summary>A step of a run failed, timed out or was cancelled.</summary>
    StepFailed = 7,
    /// <summary>The version's image build failed (<c>publish --wait</c>).</summary>
    BuildFailed = 8,
    /// <summary>A file upload failed after every retry.</summary>
    UploadFailed = 9,
    /// <summary>The credentials are valid but lack the permission (403).</summary>
    Forbidden = 10,
    /// <summary>The server refused because of a conflict (409), e.g. a tag or version state.</summary>
    Conflict = 11,
    /// <summary>An evaluation failed or was cancelled (<c>evaluate --wait</c>).</summary>
    EvaluationFailed = 12,
    /// <summary>A fine-tune job failed or was cancelled (<c>finetune --wait</c>).</summary>
    FinetuneFailed = 13,
    /// <summary>Interrupted with Ctrl-C.</summary>
    Cancelled = 130,
}

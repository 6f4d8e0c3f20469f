using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>Resource limits of one profile (low, medium, high).</summary>
public sealed class ProfileLimits
{
    public int MemoryMiB { get; set; }
    public double Cpus { get; set; }
    public int PidsLimit { get; set; }
    public int TmpfsMiB { get; set; }
    public int TimeoutSeconds { get; set; }
    /// <summary>Wall-clock limit of one fine-tune job's training function (docs/deploy.md, "Fine-tuning").</summary>
    public int TrainingTimeoutSeconds { get; set; } = 900;
    /// <summary>Adds a GPU device request (all GPUs, driver nvidia).</summary>
    public bool Gpu { get; set; }
}

/// <summary>The three profiles; bound from <c>Runner:Profiles:Low</c> etc.</summary>
public sealed class ProfileSet
{
    public ProfileLimits Low { get; set; } = new() { MemoryMiB = 512, Cpus = 1, PidsLimit = 128, TmpfsMiB = 64, TimeoutSeconds = 30, TrainingTimeoutSeconds = 900 };
    public ProfileLimits Medium { get; set; } = new() { MemoryMiB = 2048, Cpus = 2, PidsLimit = 256, TmpfsMiB = 256, TimeoutSeconds = 120, TrainingTimeoutSeconds = 3600 };
    public ProfileLimits High { get; set; } = new() { MemoryMiB = 8192, Cpus = 4, PidsLimit = 512, TmpfsMiB = 1024, TimeoutSeconds = 600, TrainingTimeoutSeconds = 7200, Gpu = true };

    public static readonly IReadOnlyList<string> Names = ["low", "medium", "high"];

    /// <summary>The limits of a profile by its metadata name, or null for an unknown name.</summary>
    public ProfileLimits? Find(string profile) => profile switch
    {
        "low" => Low,
        "medium" => Medium,
        "high" => High,
        _ => null,
    };
}

/// <summary>Options of the runner (sandbox and image builds), configuration section <c>Runner</c>.</summary>
public sealed class RunnerOptions
{
    public const string Section = "Runner";

    /// <summary>
    /// Where steps run: <c>local</c> (containers on the Docker engine of Docker:Endpoint) or <c>swarm</c> (one-off
    /// Swarm jobs placed by the scheduler of the swarm whose manager is Docker:Endpoint; section Runner:Swarm).
    /// </summary>
    public string Mode { get; set; } = "local";

    public bool IsSwarm => string.Equals(Mode, "swarm", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// How a version's large files (1 MiB or more: weights) reach its steps. <c>mount</c> (the default in local
    /// mode): they stay in the blob store and each step gets them as read-only bind mounts under /model, so
    /// publishing builds no weights layer and a version that changes only code costs nothing. <c>image</c>: they are
    /// built into a weights image the version image starts from (what swarm mode always does: its nodes share no
    /// disk with the server). See docs/deploy.md, "How weights reach a step".
    /// </summary>
    public string Weights { get; set; } = "mount";

    /// <summary>True when versions built now keep their weights out of their images (local mode and Weights=mount).</summary>
    public bool MountsWeights => !IsSwarm && string.Equals(Weights, "mount", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The server's data directory as the Docker engine sees it, for the weights' bind mounts. Empty: found by itself
    /// (the same path, or, when the server runs in a container, the source of the mount holding its data directory).
    /// </summary>
    public string? HostDataDirectory { get; set; }

    /// <summary>The runner base image every environment image builds on.</summary>
    public string BaseImage { get; set; } = "feather-runner:latest";

    /// <summary>
    /// Names this server on the Docker engine (label org.feather.owner). The reaper only removes
    /// leftovers carrying this server's id, so several servers can share one engine.
    /// </summary>
    public string InstanceId { get; set; } = "feather";

    public ProfileSet Profiles { get; set; } = new();

    /// <summary>Steps that run at once; further steps wait in a queue.</summary>
    public int MaxConcurrentSteps { get; set; } = Environment.ProcessorCount;

    /// <summary>Steps that may wait for a slot; further submissions are refused (503 with Retry-After). 0: never wait.</summary>
    public int MaxQueuedSteps { get; set; } = 100;

    /// <summary>
    /// Containers created ahead of demand per (version image, profile) used in the last
    /// <see cref="WarmContainerIdleSeconds"/>; a step takes one instead of waiting for the engine's create.
    /// Each still runs exactly one step. 0 turns the pool off.
    /// </summary>
    public int WarmContainers { get; set; } = 1;

    /// <summary>A (version image, profile) not used for this long loses its warm containers.</summary>
    public int WarmContainerIdleSeconds { get; set; } = 900;

    /// <summary>
    /// Memory (MiB, by the profiles' limits) that prepared containers may hold in total: a prepared container
    /// keeps its model's weights loaded, so the pool creates none beyond this budget.
    /// </summary>
    public int PreparedMemoryBudgetMiB { get; set; } = 8192;

    /// <summary>
    /// Steps of runs use prepared containers (started ahead, model imported and prepared, waiting for one
    /// request; docs/deploy.md, "Prepared containers"). False: the warm pool keeps created, unstarted containers
    /// and each step imports and prepares its model inside its own timeout.
    /// </summary>
    public bool PrepareContainers { get; set; } = true;

    /// <summary>
    /// How long a model's preparation (import and <c>prepare</c>) may take in a prepared container before it counts as
    /// failed. The preparation runs before the step's request and never counts against the step's timeout.
    /// </summary>
    public int PreparationTimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// After a preparation fails, how long the pool prepares no container ahead for that version, profile and
    /// entrypoint (steps meanwhile prepare in their own container); a step that succeeds ends the pause at once.
    /// </summary>
    public int PreparationRetrySeconds { get; set; } = 300;

    /// <summary>stdout beyond this kills the step (outcome Crashed).</summary>
    public int MaxOutputBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>stderr (the step's log) kept; the rest is dropped with a note.</summary>
    public int MaxLogBytes { get; set; } = 1024 * 1024;

    /// <summary>How often the reaper looks for leftover containers.</summary>
    public int ReapIntervalSeconds { get; set; } = 300;

    /// <summary>pip --index-url for Python packages of environment builds (optional).</summary>
    public string? PythonIndexUrl { get; set; }

    /// <summary>pip --find-links (a local wheelhouse URL or path inside the build) used with --no-index (optional).</summary>
    public string? WheelhouseUrl { get; set; }

    /// <summary>
    /// The Python (major.minor) of the runner image. A publish whose metadata declares another Python is refused
    /// with 400: the environment could not be built. images/runner/Dockerfile on Debian bookworm has 3.11.
    /// </summary>
    public string PythonVersion { get; set; } = "3.11";

    /// <summary>Wall-clock limit of one image build (environment and version image together).</summary>
    public int BuildTimeoutSeconds { get; set; } = 600;

    /// <summary>Image builds that run at once; further builds wait. Builds of one environment hash never run twice at once.</summary>
    public int MaxConcurrentBuilds { get; set; } = 2;

    /// <summary>A build log longer than this keeps its first and last half and drops the middle with a marker.</summary>
    public int MaxBuildLogBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The Docker network environment builds that install packages use (a network that reaches only the lab's
    /// mirrors, say). Builds without packages and version image builds get no network at all.
    /// </summary>
    public string BuildNetwork { get; set; } = "bridge";

    /// <summary>Memory (no swap) and CPUs one image build may use: builds run package managers as root.</summary>
    public int BuildMemoryMiB { get; set; } = 4096;
    public double BuildCpus { get; set; } = 2;
}

/// <summary>Checks <see cref="RunnerOptions"/> at start-up; each message names the key and the allowed values.</summary>
public sealed class RunnerOptionsValidator : IValidateOptions<RunnerOptions>
{
    public ValidateOptionsResult Validate(string? name, RunnerOptions o)
    {
        var errors = new List<string>();
        const string p = RunnerOptions.Section;
        if (!string.Equals(o.Mode, "local", StringComparison.OrdinalIgnoreCase) && !o.IsSwarm)
            errors.Add($"{p}:Mode must be local or swarm (got '{o.Mode}').");
        if (!string.Equals(o.Weights, "mount", StringComparison.OrdinalIgnoreCase) && !string.Equals(o.Weights, "image", StringComparison.OrdinalIgnoreCase))
            errors.Add($"{p}:Weights must be mount or image (got '{o.Weights}').");
        if (!string.IsNullOrEmpty(o.HostDataDirectory) && !Path.IsPathFullyQualified(o.HostDataDirectory))
            errors.Add($"{p}:HostDataDirectory must be an absolute path on the Docker engine's machine (got '{o.HostDataDirectory}').");
        if (string.IsNullOrWhiteSpace(o.BaseImage))
            errors.Add($"{p}:BaseImage must name the runner base image (e.g. feather-runner:latest).");
        if (string.IsNullOrWhiteSpace(o.InstanceId) || !o.InstanceId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            errors.Add($"{p}:InstanceId must be non-empty and use only letters, digits, '-', '_' and '.' (got '{o.InstanceId}').");
        if (o.MaxConcurrentSteps < 1)
            errors.Add($"{p}:MaxConcurrentSteps must be at least 1 (got {o.MaxConcurrentSteps}).");
        if (o.MaxQueuedSteps is < 0 or > 100_000)
            errors.Add($"{p}:MaxQueuedSteps must be between 0 (refuse steps when every slot is busy) and 100000 (got {o.MaxQueuedSteps}).");
        if (o.WarmContainers is < 0 or > 64)
            errors.Add($"{p}:WarmContainers must be between 0 (off) and 64 (got {o.WarmContainers}).");
        if (o.PreparedMemoryBudgetMiB < 0)
            errors.Add($"{p}:PreparedMemoryBudgetMiB must be 0 (no prepared containers) or more (got {o.PreparedMemoryBudgetMiB}).");
        if (o.PreparationTimeoutSeconds < 1)
            errors.Add($"{p}:PreparationTimeoutSeconds must be at least 1 (got {o.PreparationTimeoutSeconds}).");
        if (o.PreparationRetrySeconds < 1)
            errors.Add($"{p}:PreparationRetrySeconds must be at least 1 (got {o.PreparationRetrySeconds}).");
        if (o.WarmContainerIdleSeconds < 1)
            errors.Add($"{p}:WarmContainerIdleSeconds must be at least 1 (got {o.WarmContainerIdleSeconds}).");
        if (o.MaxOutputBytes < 1024)
            errors.Add($"{p}:MaxOutputBytes must be at least 1024 (got {o.MaxOutputBytes}).");
        if (o.MaxLogBytes < 1024)
            errors.Add($"{p}:MaxLogBytes must be at least 1024 (got {o.MaxLogBytes}).");
        if (o.ReapIntervalSeconds < 1)
            errors.Add($"{p}:ReapIntervalSeconds must be at least 1 (got {o.ReapIntervalSeconds}).");
        if (o.BuildMemoryMiB < 256)
            errors.Add($"{p}:BuildMemoryMiB must be at least 256 (got {o.BuildMemoryMiB}).");
        if (o.BuildCpus <= 0)
            errors.Add($"{p}:BuildCpus must be more than 0 (got {o.BuildCpus}).");
        if (o.BuildTimeoutSeconds < 1)
            errors.Add($"{p}:BuildTimeoutSeconds must be at least 1 (got {o.BuildTimeoutSeconds}).");
        if (!System.Text.RegularExpressions.Regex.IsMatch(o.PythonVersion ?? "", @"^[0-9]+\.[0-9]+$"))
            errors.Add($"{p}:PythonVersion must be the runner image's Python as major.minor, e.g. 3.11 (got '{o.PythonVersion}').");
        if (o.MaxConcurrentBuilds is < 1 or > 64)
            errors.Add($"{p}:MaxConcurrentBuilds must be between 1 and 64 (got {o.MaxConcurrentBuilds}).");
        if (o.MaxBuildLogBytes < 1024)
            errors.Add($"{p}:MaxBuildLogBytes must be at least 1024 (got {o.MaxBuildLogBytes}).");
        if (string.IsNullOrWhiteSpace(o.BuildNetwork) || !o.BuildNetwork.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            errors.Add($"{p}:BuildNetwork must name a Docker network (letters, digits, '-', '_', '.'; e.g. bridge) (got '{o.BuildNetwork}').");
        foreach (var (url, key) in new[] { (o.PythonIndexUrl, "PythonIndexUrl"), (o.WheelhouseUrl, "WheelhouseUrl") })
            if (!string.IsNullOrEmpty(url) && (url.Any(char.IsWhiteSpace) || url.Contains('\'')))
                errors.Add($"{p}:{key} must be a URL or path without spaces or quotes (got '{url}').");
        foreach (var (profileName, limits) in new[] { ("Low", o.Profiles.Low), ("Medium", o.Profiles.Medium), ("High", o.Profiles.High) })
        {
            var k = $"{p}:Profiles:{profileName}";
            if (limits is null) { errors.Add($"{k} is missing."); continue; }
            if (limits.MemoryMiB < 16) errors.Add($"{k}:MemoryMiB must be at least 16 (got {limits.MemoryMiB}).");
            if (limits.Cpus is <= 0 or > 1024 || double.IsNaN(limits.Cpus)) errors.Add($"{k}:Cpus must be between 0 (exclusive) and 1024 (got {limits.Cpus}).");
            if (limits.PidsLimit < 8) errors.Add($"{k}:PidsLimit must be at least 8 (got {limits.PidsLimit}).");
            if (limits.TmpfsMiB < 1) errors.Add($"{k}:TmpfsMiB must be at least 1 (got {limits.TmpfsMiB}).");
            if (limits.TimeoutSeconds < 1) errors.Add($"{k}:TimeoutSeconds must be at least 1 (got {limits.TimeoutSeconds}).");
            if (limits.TrainingTimeoutSeconds < 1) errors.Add($"{k}:TrainingTimeoutSeconds must be at least 1 (got {limits.TrainingTimeoutSeconds}).");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

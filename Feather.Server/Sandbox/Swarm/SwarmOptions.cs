using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>
/// The swarm runner (Runner:Mode = swarm), configuration section <c>Runner:Swarm</c>. The server talks to a
/// manager node's Engine API (Docker:Endpoint); images are built there and pushed to <see cref="Registry"/>.
/// </summary>
public sealed class SwarmOptions
{
    public const string Section = "Runner:Swarm";

    /// <summary>
    /// The registry every node pulls step images from: host[:port][/path], e.g. registry.lab.example:5000/feather.
    /// Images are pushed as &lt;Registry&gt;/feather-version:&lt;tag&gt; and steps name them by digest.
    /// </summary>
    public string Registry { get; set; } = "";

    /// <summary>The registry's user (empty: an open registry).</summary>
    public string? RegistryUsername { get; set; }

    /// <summary>The registry's password or token (set it from the environment: Runner__Swarm__RegistryPassword).</summary>
    public string? RegistryPassword { get; set; }

    /// <summary>
    /// A node label that marks GPU nodes (set with docker node update --label-add feather.gpu=true): <c>high</c>
    /// steps are constrained to nodes with &lt;label&gt;=true. Used when <see cref="GpuResource"/> is empty.
    /// </summary>
    public string GpuNodeLabel { get; set; } = "feather.gpu";

    /// <summary>
    /// A generic resource kind the GPU nodes advertise (node-generic-resources in daemon.json, e.g. NVIDIA-GPU):
    /// when set, a <c>high</c> step reserves one of it instead of using <see cref="GpuNodeLabel"/>.
    /// </summary>
    public string? GpuResource { get; set; }

    /// <summary>
    /// How a step's service is made: <c>replicated-job</c> (a job of one completion, never restarted), <c>replicated</c>
    /// (one replica with restart condition none: the same one-off task), or <c>auto</c> (the default): replicated-job when
    /// the manager's engine is 24.0 or newer, else replicated. Docker 20.10's swarm (Debian 12's docker.io) never removes
    /// the tasks of a removed job (moby/moby#44312, fixed by moby/swarmkit#3112 in 24.0): each finished step would leave
    /// its task in the swarm's store and its exited container on its node. A running job task is stopped on any engine
    /// (the runner ends the job's iteration first, see <see cref="SwarmClient.RemoveServiceAsync"/>). docs/deploy.md.
    /// </summary>
    public string ServiceMode { get; set; } = "auto";

    /// <summary>
    /// Once a version is built and pushed, make every node that can run it pull its image in the background (a global
    /// service whose task runs nothing), so its first step on a node does not wait for the pull.
    /// </summary>
    public bool PrePull { get; set; } = true;

    /// <summary>How long a step may wait to be placed and started (image pull included) before it fails.</summary>
    public int StartTimeoutSeconds { get; set; } = 300;

    /// <summary>Reserve each step's memory and CPUs on its node, so the scheduler does not overcommit nodes.</summary>
    public bool ReserveResources { get; set; } = true;

    /// <summary>How often a running step's task state is asked for.</summary>
    public int PollMilliseconds { get; set; } = 100;

    /// <summary>The request is handed to the step in secrets of at most this size (the swarm's limit is 500 KiB).</summary>
    public const int SecretChunkBytes = 450 * 1024;

    /// <summary>The most request bytes a step can be given (64 secrets).</summary>
    public const int MaxRequestBytes = 64 * SecretChunkBytes;
}

/// <summary>Checks <see cref="SwarmOptions"/> at start-up when Runner:Mode is swarm.</summary>
public sealed class SwarmOptionsValidator(IOptions<RunnerOptions> runner) : IValidateOptions<SwarmOptions>
{
    public ValidateOptionsResult Validate(string? name, SwarmOptions o)
    {
        if (!runner.Value.IsSwarm) return ValidateOptionsResult.Success;
        const string p = SwarmOptions.Section;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Registry) || o.Registry.Contains("://", StringComparison.Ordinal) || o.Registry.Any(char.IsWhiteSpace)
            || o.Registry.EndsWith('/') || o.Registry.Any(char.IsAsciiLetterUpper))
            errors.Add($"{p}:Registry must name the registry every node pulls from as host[:port][/path] in lower case, without a scheme (got '{o.Registry}').");
        if (string.IsNullOrEmpty(o.RegistryUsername) != string.IsNullOrEmpty(o.RegistryPassword))
            errors.Add($"{p}:RegistryUsername and {p}:RegistryPassword must be set together (or neither, for an open registry).");
        if (string.IsNullOrWhiteSpace(o.GpuNodeLabel) || !o.GpuNodeLabel.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            errors.Add($"{p}:GpuNodeLabel must be a node label name (letters, digits, '.', '-', '_') (got '{o.GpuNodeLabel}').");
        if (!string.IsNullOrEmpty(o.GpuResource) && !o.GpuResource.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            errors.Add($"{p}:GpuResource must be a generic resource kind such as NVIDIA-GPU (got '{o.GpuResource}').");
        if (o.ServiceMode is not ("auto" or "replicated-job" or "replicated"))
            errors.Add($"{p}:ServiceMode must be auto, replicated-job or replicated (got '{o.ServiceMode}').");
        if (o.StartTimeoutSeconds < 1)
            errors.Add($"{p}:StartTimeoutSeconds must be at least 1 (got {o.StartTimeoutSeconds}).");
        if (o.PollMilliseconds is < 10 or > 10_000)
            errors.Add($"{p}:PollMilliseconds must be between 10 and 10000 (got {o.PollMilliseconds}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

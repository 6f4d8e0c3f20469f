using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// What the Docker engine can do, asked once at start-up (and again on <see cref="RefreshAsync"/>).
/// Publishing and runs call <see cref="SupportsGpu"/> / <see cref="CheckProfile"/> to refuse the
/// <c>high</c> profile on an engine without a GPU runtime.
/// </summary>
public sealed class RunnerCapabilities(IContainerEngine engine, IOptions<RunnerOptions> options, ILogger<RunnerCapabilities> logger,
    IGpuProbe? gpuProbe = null)
{
    private volatile bool _probed;
    private volatile bool _supportsGpu;

    /// <summary>True when the engine reports a GPU runtime (nvidia). False until probed at start-up.</summary>
    public bool SupportsGpu => _supportsGpu;

    public bool Probed => _probed;

    /// <summary>Asks the engine (docker info) for its runtimes.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        if (gpuProbe is not null)
        {
            _supportsGpu = await gpuProbe.HasGpuAsync(ct);
            _probed = true;
            logger.LogInformation("{Runner}: GPU {Gpu}", gpuProbe.Describe, _supportsGpu ? "present" : "absent");
            return;
        }
        var info = await engine.GetInfoAsync(ct);
        _supportsGpu = HasGpuRuntime(info.Runtimes);
        _probed = true;
        logger.LogInformation("Docker engine {Version} at {Endpoint}: GPU runtime {Gpu}", info.Version, engine.Endpoint, _supportsGpu ? "present" : "absent");
    }

    /// <summary>True when one of the engine's runtimes is a GPU runtime (nvidia, nvidia-container-runtime, ...).</summary>
    public static bool HasGpuRuntime(IEnumerable<string> runtimes) =>
        runtimes.Any(r => r.Contains("nvidia", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Null when steps of <paramref name="profile"/> can run here, else a clear reason
    /// (unknown profile, or high without a GPU runtime).
    /// </summary>
    public string? CheckProfile(string profile)
    {
        var limits = options.Value.Profiles.Find(profile);
        if (limits is null)
            return $"unknown profile '{profile}' (allowed: {string.Join(", ", ProfileSet.Names)})";
        if (limits.Gpu && !SupportsGpu)
            return gpuProbe?.NoGpuReason(profile)
                ?? $"profile '{profile}' needs a GPU, but this server's Docker engine has no GPU runtime (nvidia); use profile low or medium, or run the server on a GPU machine";
        return null;
    }
}

/// <summary>
/// Where GPUs are for a runner that is not the local engine (the swarm runner asks its nodes). Without one,
/// <see cref="RunnerCapabilities"/> asks the Docker engine for a GPU runtime.
/// </summary>
public interface IGpuProbe
{
    /// <summary>True when steps of a GPU profile can be placed now.</summary>
    Task<bool> HasGpuAsync(CancellationToken ct);

    /// <summary>What was asked (for the log).</summary>
    string Describe { get; }

    /// <summary>Why <paramref name="profile"/> is refused when there is no GPU.</summary>
    string NoGpuReason(string profile);
}

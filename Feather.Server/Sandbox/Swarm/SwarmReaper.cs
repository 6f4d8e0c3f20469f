using Microsoft.Extensions.Options;
using Prometheus;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>
/// Removes the swarm jobs this server left behind (after a crash or kill -9): services, then their secrets and
/// networks, labelled org.feather.managed=true and org.feather.owner=&lt;InstanceId&gt; and not belonging to a step
/// this process is running. Removing a service makes the swarm remove its task's container on whatever node it ran.
/// Runs at start-up and every <see cref="RunnerOptions.ReapIntervalSeconds"/>, and asks the nodes for GPUs each time.
/// </summary>
public sealed partial class SwarmReaper(
    SwarmClient swarm,
    ContainerTracker tracker,
    RunnerCapabilities capabilities,
    IOptions<RunnerOptions> options,
    ILogger<SwarmReaper> logger) : BackgroundService
{
    public static readonly Counter Reaped = Metrics.CreateCounter(
        "feather_swarm_objects_reaped_total", "Leftover swarm services, secrets and networks removed by the reaper, by kind.", "kind");

    /// <summary>Removes leftovers once; returns how many services, secrets and networks were removed.</summary>
    public async Task<int> ReapOnceAsync(CancellationToken ct)
    {
        var own = new Dictionary<string, string>
        {
            [SandboxParameters.ManagedLabel] = "true",
            [SandboxParameters.OwnerLabel] = options.Value.InstanceId,
        };
        bool Leftover(SwarmObject o) =>
            !(o.Labels.TryGetValue(SwarmServiceSpec.StepLabel, out var step) && tracker.Contains(step));
        var removed = 0;
        foreach (var s in (await swarm.ServicesAsync(own, ct)).Where(Leftover))
        {
            try
            {
                if (await swarm.RemoveServiceAsync(s.Id, CancellationToken.None)) { removed++; Reaped.WithLabels("service").Inc(); LogReaped("service", s.Name); }
            }
            catch (ContainerEngineException)
            {
                // a job whose task the swarm has not stopped yet: the next round takes it
            }
        }
        foreach (var s in (await swarm.SecretsAsync(own, ct)).Where(Leftover))
        {
            try
            {
                if (await swarm.RemoveSecretAsync(s.Id, CancellationToken.None)) { removed++; Reaped.WithLabels("secret").Inc(); LogReaped("secret", s.Name); }
            }
            catch (ContainerEngineException)
            {
                // still in use by a service being removed: the next round takes it
            }
        }
        foreach (var n in (await swarm.NetworksAsync(own, ct)).Where(Leftover))
        {
            try
            {
                if (await swarm.RemoveNetworkAsync(n.Id, CancellationToken.None)) { removed++; Reaped.WithLabels("network").Inc(); LogReaped("network", n.Name); }
            }
            catch (ContainerEngineException)
            {
                // a container of a removed service is still attached: the next round takes it
            }
        }
        return removed;
    }

    public override async Task StartAsync(CancellationToken ct)
    {
        try
        {
            var (state, manager) = await swarm.SwarmStateAsync(ct);
            if (state != "active" || !manager)
                LogNotManager(swarm.Endpoint, state);
            else
                await ReapOnceAsync(ct);
        }
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or TimeoutException
                                   or System.Net.Sockets.SocketException)
        {
            LogUnreachable(e, swarm.Endpoint);
        }
        await base.StartAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.ReapIntervalSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await capabilities.RefreshAsync(stoppingToken);
                await ReapOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogReapFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reaped leftover swarm {Kind} {Name}")]
    private partial void LogReaped(string kind, string name);

    [LoggerMessage(Level = LogLevel.Error, Message = "Runner:Mode is swarm but the engine at {Endpoint} is not a swarm manager (swarm state '{State}'): steps fail until it is (docs/deploy.md)")]
    private partial void LogNotManager(Uri endpoint, string state);

    [LoggerMessage(Level = LogLevel.Error, Message = "The swarm manager at {Endpoint} is not reachable at start-up; steps fail until it is")]
    private partial void LogUnreachable(Exception e, Uri endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reaping leftover swarm jobs failed")]
    private partial void LogReapFailed(Exception e);
}

/// <summary>GPUs of a swarm: a ready, active node with the GPU label (or offering the GPU generic resource).</summary>
public sealed class SwarmGpuProbe(SwarmClient swarm, IOptions<SwarmOptions> options) : IGpuProbe
{
    private string Mark => string.IsNullOrEmpty(options.Value.GpuResource)
        ? $"node label {options.Value.GpuNodeLabel}=true" : $"generic resource {options.Value.GpuResource}";

    public string Describe => $"swarm manager at {swarm.Endpoint}, GPU nodes by {Mark}";

    public async Task<bool> HasGpuAsync(CancellationToken ct)
    {
        var o = options.Value;
        var nodes = await swarm.ReadyNodesAsync(ct);
        return nodes.Any(n => string.IsNullOrEmpty(o.GpuResource)
            ? n.Labels.TryGetValue(o.GpuNodeLabel, out var v) && v == "true"
            : n.Resources.Contains(o.GpuResource, StringComparer.Ordinal));
    }

    public string NoGpuReason(string profile) =>
        $"profile '{profile}' needs a GPU, but no ready node of the swarm offers one ({Mark}); use profile low or medium, or add a GPU node (docs/deploy.md)";
}

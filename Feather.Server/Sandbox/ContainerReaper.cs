using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// Removes step containers this server left behind (after a crash or kill -9): on start-up and then
/// every <see cref="RunnerOptions.ReapIntervalSeconds"/>. It only touches containers labelled
/// org.feather.managed=true and org.feather.owner=&lt;this server's InstanceId&gt; that are not running
/// a step of this process. It also asks the engine for its capabilities (GPU runtime) at start-up.
/// </summary>
public sealed partial class ContainerReaper(
    DockerEngine docker,
    ContainerTracker tracker,
    RunnerCapabilities capabilities,
    IOptions<RunnerOptions> options,
    ILogger<ContainerReaper> logger) : BackgroundService
{
    /// <summary>Removes leftovers once. Returns how many containers were removed.</summary>
    public async Task<int> ReapOnceAsync(CancellationToken ct)
    {
        var filters = new Dictionary<string, IDictionary<string, bool>>
        {
            ["label"] = new Dictionary<string, bool>
            {
                [$"{SandboxParameters.ManagedLabel}=true"] = true,
                [$"{SandboxParameters.OwnerLabel}={options.Value.InstanceId}"] = true,
            },
        };
        var containers = await docker.Client.Containers.ListContainersAsync(
            new ContainersListParameters { All = true, Filters = filters }, ct);
        var removed = 0;
        foreach (var c in containers)
        {
            var name = (c.Names ?? []).Select(n => n.TrimStart('/')).FirstOrDefault() ?? "";
            if (tracker.Contains(name)) continue;
            try
            {
                await docker.Client.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, CancellationToken.None);
                removed++;
                LogReaped(name, c.ID, c.State);
            }
            catch (DockerContainerNotFoundException)
            {
                // removed meanwhile
            }
        }
        if (removed > 0) RunnerMetrics.ContainersReaped.Inc(removed);
        return removed;
    }

    public override async Task StartAsync(CancellationToken ct)
    {
        // Start-up work runs before the server takes requests: probe the engine, remove leftovers.
        try
        {
            await capabilities.RefreshAsync(ct);
            await ReapOnceAsync(ct);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or TimeoutException
                                   or System.Net.Sockets.SocketException)
        {
            LogEngineUnreachable(e, docker.Endpoint);
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
                if (!capabilities.Probed) await capabilities.RefreshAsync(stoppingToken);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Reaped leftover step container {Name} ({Id}, state {State})")]
    private partial void LogReaped(string name, string id, string state);

    [LoggerMessage(Level = LogLevel.Error, Message = "Docker engine at {Endpoint} is not reachable at start-up; steps and builds fail until it is")]
    private partial void LogEngineUnreachable(Exception e, Uri endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reaping leftover containers failed")]
    private partial void LogReapFailed(Exception e);
}

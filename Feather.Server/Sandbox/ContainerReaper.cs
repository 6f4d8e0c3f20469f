using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>
/// Removes step containers this server left behind (after a crash or kill -9): on start-up and then
/// every <see cref="RunnerOptions.ReapIntervalSeconds"/>. It only touches containers labelled
/// org.feather.managed=true and org.feather.owner=&lt;this server's InstanceId&gt; that are not running
/// a step of this process. It also asks the engine for its capabilities (GPU runtime) at start-up.
/// </summary>
public sealed partial class ContainerReaper(
    IContainerEngine engine,
    ContainerTracker tracker,
    RunnerCapabilities capabilities,
    IOptions<RunnerOptions> options,
    ILogger<ContainerReaper> logger) : BackgroundService
{
    /// <summary>Removes leftovers once. Returns how many containers were removed.</summary>
    public async Task<int> ReapOnceAsync(CancellationToken ct)
    {
        var containers = await engine.ListContainersAsync(new Dictionary<string, string>
        {
            [SandboxParameters.ManagedLabel] = "true",
            [SandboxParameters.OwnerLabel] = options.Value.InstanceId,
        }, ct);
        var removed = 0;
        foreach (var c in containers)
        {
            var name = c.Name;
            if (tracker.Contains(name)) continue;
            try
            {
                await engine.RemoveContainerAsync(c.Id, CancellationToken.None);
                removed++;
                LogReaped(name, c.Id, c.State);
            }
            catch (ContainerNotFoundException)
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
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or TimeoutException
                                   or System.Net.Sockets.SocketException)
        {
            LogEngineUnreachable(e, engine.Endpoint);
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

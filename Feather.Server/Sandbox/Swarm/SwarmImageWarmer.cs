using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>
/// The warm start swarm mode can offer: once a version's image is in the registry, every node that may run its
/// steps pulls it (a global service whose task runs nothing of the image: <see cref="SwarmServiceSpec.PrePull"/>),
/// so the version's first step on a node does not wait for the pull. In the background, bounded by
/// <see cref="SwarmOptions.StartTimeoutSeconds"/>; the service is removed when every node's task has ended (the
/// reaper removes it should the server stop first). Off with <see cref="SwarmOptions.PrePull"/> = false.
/// </summary>
public sealed partial class SwarmImageWarmer(
    SwarmClient swarm,
    ContainerTracker tracker,
    IOptions<RunnerOptions> runner,
    IOptions<SwarmOptions> options,
    ILogger<SwarmImageWarmer> logger)
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    public static readonly Counter Nodes = Metrics.CreateCounter(
        "feather_swarm_prepull_nodes_total", "Nodes that pulled a new version's image ahead of its steps, by outcome (pulled, failed).", "outcome");

    /// <summary>Starts the pre-pull of <paramref name="image"/> (by digest) on the nodes that can run <paramref name="profile"/>.</summary>
    public void Start(string image, string profile)
    {
        if (!options.Value.PrePull || runner.Value.Profiles.Find(profile) is not { } limits) return;
        var task = PrePullAsync(image, profile, limits);
        _running[task] = 0;
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>Completes when the pre-pulls started so far have ended.</summary>
    public Task IdleAsync() => Task.WhenAll(_running.Keys.ToArray());

    /// <summary>Runs one pre-pull to its end; returns (nodes that have the image, nodes that could not pull it).</summary>
    public async Task<(int Pulled, int Failed)> PrePullAsync(string image, string profile, ProfileLimits limits)
    {
        await Task.Yield();
        var name = "feather-pull-" + Guid.NewGuid().ToString("n");
        tracker.Add(name);
        string? id = null;
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(options.Value.StartTimeoutSeconds));
            id = await swarm.CreateServiceAsync(SwarmServiceSpec.PrePull(name, image, runner.Value.InstanceId, profile, limits, options.Value), limit.Token);
            IReadOnlyList<SwarmTask> tasks = [];
            try
            {
                while (true)
                {
                    tasks = await swarm.TasksAsync(id, limit.Token);
                    if (tasks.Count > 0 && tasks.All(t => t.Terminal)) break;
                    await Task.Delay(500, limit.Token);
                }
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested)
            {
                // nodes still pulling after the start timeout: their steps pull as before
            }
            // a task whose container was created had its image; one without a container could not pull it
            var pulled = tasks.Count(t => t.ContainerId is not null);
            var failed = tasks.Count(t => t.Terminal && t.ContainerId is null);
            Nodes.WithLabels("pulled").Inc(pulled);
            Nodes.WithLabels("failed").Inc(failed);
            LogPrePulled(image, pulled, failed);
            return (pulled, failed);
        }
        catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or OperationCanceledException)
        {
            LogPrePullFailed(e, image);
            return (0, 0);
        }
        finally
        {
            if (id is not null)
            {
                try
                {
                    using var remove = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                    await swarm.RemoveServiceAsync(id, remove.Token);
                }
                catch (Exception e) when (e is ContainerEngineException or HttpRequestException or IOException or OperationCanceledException)
                {
                    LogPrePullFailed(e, image); // the reaper removes it
                }
            }
            tracker.Remove(name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pre-pulled {Image} on {Pulled} nodes ({Failed} could not pull it)")]
    private partial void LogPrePulled(string image, int pulled, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pre-pulling {Image} on the swarm's nodes failed; steps pull it when they start")]
    private partial void LogPrePullFailed(Exception e, string image);
}

using static Feather.Server.Sandbox.DockerErrors;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>A step's task as the swarm reports it.</summary>
/// <param name="State">new, pending, assigned, ..., running, complete, failed, rejected, shutdown, ...</param>
/// <param name="Error">The swarm's error for a failed or rejected task (no such image, no suitable node...).</param>
public sealed record SwarmTask(string Id, string State, string Message, string Error, string? ContainerId, string? NodeId, long? ExitCode)
{
    public bool Terminal => State is "complete" or "failed" or "rejected" or "shutdown" or "orphaned" or "remove";
}

/// <summary>A service, secret or network carrying Feather's labels.</summary>
public sealed record SwarmObject(string Id, string Name, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// The swarm runner's one connection to the manager node's Engine API (the same <see cref="DockerEngine"/> as
/// the builds): the only swarm code that calls Docker.DotNet. Docker's errors become the runner's
/// (<see cref="ImageNotFoundException"/>, <see cref="ContainerEngineException"/> with the engine's answer).
/// </summary>
public sealed partial class SwarmClient(DockerEngine docker, IOptions<SwarmOptions> options, ILogger<SwarmClient>? logger = null)
{
    private DockerClient Client => docker.Client;

    public Uri Endpoint => docker.Endpoint;

    /// <summary>The registry credentials of configuration, or null for an open registry.</summary>
    public AuthConfig? RegistryAuth()
    {
        var o = options.Value;
        return string.IsNullOrEmpty(o.RegistryUsername) ? null
            : new AuthConfig { Username = o.RegistryUsername, Password = o.RegistryPassword, ServerAddress = RegistryHost(o.Registry) };
    }

    /// <summary>host[:port] of host[:port]/path.</summary>
    public static string RegistryHost(string registry) => registry.Split('/')[0];

    /// <summary>The swarm state of the engine: active (a node of a swarm) or another state; whether it is a manager.</summary>
    public Task<(string State, bool Manager)> SwarmStateAsync(CancellationToken ct) => Call(async () =>
    {
        var info = await Client.System.GetSystemInfoAsync(ct);
        return (info.Swarm?.LocalNodeState ?? "", info.Swarm?.ControlAvailable ?? false);
    });

    private bool? _jobsWork;

    /// <summary>The first engine major version whose swarm removes a removed job's tasks (moby/swarmkit#3112, moby/moby#44312).</summary>
    public const int JobsCleanUpFromMajor = 24;

    /// <summary>
    /// Whether steps run as replicated jobs: per <see cref="SwarmOptions.ServiceMode"/>, and for <c>auto</c> when the manager's
    /// engine is <see cref="JobsCleanUpFromMajor"/> or newer (20.10 keeps a removed job's finished task and its container).
    /// </summary>
    public async Task<bool> UseJobsAsync(CancellationToken ct)
    {
        var mode = options.Value.ServiceMode;
        if (_jobsWork is { } known) return known;
        if (mode == "replicated") return (_jobsWork = false).Value;
        var major = await EngineMajorAsync(ct);
        if (mode == "replicated-job" && major < JobsCleanUpFromMajor && logger is not null)
            LogJobsLeak(logger, major);
        return (_jobsWork = mode == "replicated-job" || major >= JobsCleanUpFromMajor).Value;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Runner:Swarm:ServiceMode is replicated-job, but the swarm manager's engine is version {Major}: "
        + "before 24.0 every finished job leaves its task in the swarm (holding its resource reservation) and its exited container on its node "
        + "(docs/deploy.md, \"Replicated jobs and Docker 20.10\")")]
    private static partial void LogJobsLeak(ILogger logger, int major);

    /// <summary>The manager engine's major version (20 for 20.10.24; 0 when it does not say).</summary>
    public Task<int> EngineMajorAsync(CancellationToken ct) => Call(async () =>
    {
        var version = (await Client.System.GetSystemInfoAsync(ct)).ServerVersion ?? "";
        return int.TryParse(version.Split('.')[0], out var m) ? m : 0;
    });

    /// <summary>Ready, active nodes: their labels and the generic resources they offer.</summary>
    public Task<IReadOnlyList<(string Id, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<string> Resources)>> ReadyNodesAsync(CancellationToken ct) =>
        Call(async () => (IReadOnlyList<(string, IReadOnlyDictionary<string, string>, IReadOnlyList<string>)>)(await Client.Swarm.ListNodesAsync(ct))
            .Where(n => n.Status?.State == "ready" && n.Spec?.Availability == "active")
            .Select(n => (n.ID, (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(n.Spec?.Labels ?? new Dictionary<string, string>()),
                (IReadOnlyList<string>)(n.Description?.Resources?.GenericResources ?? [])
                    .Select(r => r.DiscreteResourceSpec?.Kind ?? r.NamedResourceSpec?.Kind ?? "").Where(k => k.Length > 0).ToList()))
            .ToList());

    /// <summary>The image's id and its entrypoint + command (what the step's wrapper runs), or null when the engine lacks it.</summary>
    public async Task<(string Id, IReadOnlyList<string> Command)?> InspectImageAsync(string image, CancellationToken ct)
    {
        try
        {
            var i = await Call(() => Client.Images.InspectImageAsync(image, ct));
            return (i.ID, [.. i.Config?.Entrypoint ?? [], .. i.Config?.Cmd ?? []]);
        }
        catch (ImageNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The image's labels (null when absent).</summary>
    public async Task<IReadOnlyDictionary<string, string>?> ImageLabelsAsync(string image, CancellationToken ct)
    {
        try
        {
            var i = await Call(() => Client.Images.InspectImageAsync(image, ct));
            return new Dictionary<string, string>(i.Config?.Labels ?? new Dictionary<string, string>());
        }
        catch (ImageNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Tags <paramref name="image"/> as <paramref name="repository"/>:<paramref name="tag"/>, pushes it with the
    /// configured credentials, removes that extra tag again, and returns the digest the registry stored it under.
    /// </summary>
    public Task<string> PushAsync(string image, string repository, string tag, CancellationToken ct) => Call(async () =>
    {
        await Client.Images.TagImageAsync(image, new ImageTagParameters { RepositoryName = repository, Tag = tag }, ct);
        try
        {
            string? digest = null, error = null;
            var progress = new SyncProgress<JSONMessage>(m =>
            {
                if (m.Error is not null) error ??= string.IsNullOrWhiteSpace(m.Error.Message) ? $"push failed (code {m.Error.Code})" : m.Error.Message.Trim();
                if (m.Status is { } s && Digest().Match(s) is { Success: true } d) digest = d.Groups[1].Value;
            });
            await Client.Images.PushImageAsync(repository, new ImagePushParameters { Tag = tag }, RegistryAuth() ?? new AuthConfig(), progress, ct);
            if (error is not null) throw new ContainerEngineException($"pushing {repository}:{tag} failed", error);
            return digest ?? throw new ContainerEngineException($"pushing {repository}:{tag} failed", "the registry answered no digest");
        }
        finally
        {
            // only the extra tag goes; the image keeps its own tag
            try
            {
                await Client.Images.DeleteImageAsync($"{repository}:{tag}", new ImageDeleteParameters { Force = false, NoPrune = true }, CancellationToken.None);
            }
            catch (DockerApiException)
            {
            }
        }
    });

    [GeneratedRegex(@"digest: (sha256:[0-9a-f]{64})")]
    private static partial Regex Digest();

    public Task<string> CreateNetworkAsync(string name, IDictionary<string, string> labels, CancellationToken ct) => Call(async () =>
        (await Client.Networks.CreateNetworkAsync(new NetworksCreateParameters
        {
            Name = name,
            Driver = "overlay",
            Scope = "swarm",
            Internal = true,   // no gateway: nothing outside the network is routable
            Attachable = false, // only the step's service joins it
            Labels = labels,
        }, ct)).ID);

    public Task<string> CreateSecretAsync(string name, byte[] data, IDictionary<string, string> labels, CancellationToken ct) => Call(async () =>
        (await Client.Secrets.CreateAsync(new SwarmSecretSpec { Name = name, Data = data, Labels = labels }, ct)).ID);

    public Task<string> CreateServiceAsync(ServiceCreateParameters parameters, CancellationToken ct) => Call(async () =>
    {
        parameters.RegistryAuth = RegistryAuth() ?? new AuthConfig();
        return (await Client.Swarm.CreateServiceAsync(parameters, ct)).ID ?? "";
    });

    public Task<IReadOnlyList<SwarmTask>> TasksAsync(string serviceId, CancellationToken ct) => Call(async () =>
        (IReadOnlyList<SwarmTask>)(await Client.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceId] = true } },
        }, ct)).Select(t => new SwarmTask(t.ID, t.Status?.State?.ToString().ToLowerInvariant() ?? "", t.Status?.Message ?? "", t.Status?.Err ?? "",
            t.Status?.ContainerStatus?.ContainerID is { Length: > 0 } c ? c : null, t.NodeID,
            t.Status?.ContainerStatus is { } cs && t.Status.State is TaskState.Complete or TaskState.Failed ? cs.ExitCode : null)).ToList());

    /// <summary>
    /// The service's stdout and (with <paramref name="stderr"/>) stderr, multiplexed, from the start; with
    /// <paramref name="follow"/>, then as they come. The node filters the streams, so a stream not asked for is not shipped.
    /// </summary>
    public Task<MultiplexedStream> LogsAsync(string serviceId, bool follow, CancellationToken ct, bool stderr = true) => Call(() =>
        Client.Swarm.GetServiceLogsAsync(serviceId, false, new ServiceLogsParameters { ShowStdout = true, ShowStderr = stderr, Follow = follow }, ct));

    /// <summary>True when the container ran on this engine's node and was killed for its memory; null when this node does not have it.</summary>
    public async Task<bool?> WasOomKilledAsync(string containerId, CancellationToken ct)
    {
        try
        {
            return (await Client.Containers.InspectContainerAsync(containerId, ct)).State?.OOMKilled ?? false;
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    public Task<IReadOnlyList<SwarmObject>> ServicesAsync(IDictionary<string, string> labels, CancellationToken ct) => Call(async () =>
        (IReadOnlyList<SwarmObject>)(await Client.Swarm.ListServicesAsync(new ServiceListParameters { Filters = LabelFilter(labels) }, ct))
            .Select(s => new SwarmObject(s.ID, s.Spec?.Name ?? "", Labels(s.Spec?.Labels))).ToList());

    public Task<IReadOnlyList<SwarmObject>> SecretsAsync(IDictionary<string, string> labels, CancellationToken ct) => Call(async () =>
        (IReadOnlyList<SwarmObject>)(await Client.Secrets.ListAsync(ct))
            .Where(s => labels.All(l => s.Spec?.Labels?.TryGetValue(l.Key, out var v) == true && v == l.Value))
            .Select(s => new SwarmObject(s.ID, s.Spec?.Name ?? "", Labels(s.Spec?.Labels))).ToList());

    public Task<IReadOnlyList<SwarmObject>> NetworksAsync(IDictionary<string, string> labels, CancellationToken ct) => Call(async () =>
        (IReadOnlyList<SwarmObject>)(await Client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = LabelFilter(labels) }, ct))
            .Select(n => new SwarmObject(n.ID, n.Name ?? "", Labels(n.Labels))).ToList());

    /// <summary>
    /// Removes the service (its tasks' containers go on every node). False when it was already gone. A replicated job whose
    /// task has not ended has its iteration ended first (<see cref="EndJobAsync"/>): Docker 20.10's swarm ignores the
    /// removal of a job, and its running task would go on.
    /// </summary>
    public async Task<bool> RemoveServiceAsync(string id, CancellationToken ct)
    {
        try
        {
            await EndJobAsync(id, ct);
        }
        catch (ContainerEngineException e) when (e.InnerException is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound })
        {
            return false;
        }
        return await Gone(() => Client.Swarm.RemoveServiceAsync(id, ct));
    }

    /// <summary>
    /// Stops the running task of a replicated job on whatever node runs it: the job gets a new spec of zero completions
    /// (a new job iteration), and the swarm's job orchestrator marks every unfinished task of the old iteration for
    /// removal, which its node's agent stops and the task reaper then deletes with its container. Waits (at most
    /// <paramref name="wait"/>, 10 s by default) until the swarm has marked them, as the job's removal right after would
    /// otherwise race the orchestrator (it reconciles no deleted service); past that, it throws and the job stays for
    /// the reaper. Nothing for a service that is not a job or whose tasks have all ended. True when it ended an iteration.
    /// </summary>
    public Task<bool> EndJobAsync(string id, CancellationToken ct, TimeSpan? wait = null) => Call(async () =>
    {
        static bool Unfinished(TaskResponse t) =>
            t.Status?.State is not (TaskState.Complete or TaskState.Failed or TaskState.Rejected or TaskState.Shutdown or TaskState.Orphaned or TaskState.Remove)
            && t.DesiredState is not (TaskState.Remove or TaskState.Shutdown);
        var service = await Client.Swarm.InspectServiceAsync(id, ct);
        if (service.Spec?.Mode?.ReplicatedJob is not { } job) return false;
        var filter = new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [id] = true } },
        };
        if (!(await Client.Tasks.ListAsync(filter, ct)).Any(Unfinished)) return false;
        job.TotalCompletions = 0;
        await Client.Swarm.UpdateServiceAsync(id, new ServiceUpdateParameters
        {
            Service = service.Spec,
            Version = (long)(service.Version?.Index ?? 0),
            RegistryAuth = RegistryAuth() ?? new AuthConfig(),
        }, ct);
        using var limit = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(10));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        try
        {
            while ((await Client.Tasks.ListAsync(filter, linked.Token)).Any(Unfinished))
                await Task.Delay(50, linked.Token);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // the job stays (removing it now could leave its task running): the reaper ends and removes it next time
            throw new ContainerEngineException($"the swarm did not stop the tasks of job {id} within {(wait ?? TimeSpan.FromSeconds(10)).TotalSeconds:0} s", "");
        }
        return true;
    });

    public Task<bool> RemoveSecretAsync(string id, CancellationToken ct) => Gone(() => Client.Secrets.DeleteAsync(id, ct));

    public Task<bool> RemoveNetworkAsync(string id, CancellationToken ct) => Gone(() => Client.Networks.DeleteNetworkAsync(id, ct));

    private static async Task<bool> Gone(Func<Task> remove)
    {
        try
        {
            await Call(remove);
            return true;
        }
        catch (ContainerEngineException e) when (e.InnerException is DockerApiException { StatusCode: System.Net.HttpStatusCode.NotFound })
        {
            return false;
        }
    }

    private static Dictionary<string, IDictionary<string, bool>> LabelFilter(IDictionary<string, string> labels) => new()
    {
        ["label"] = labels.ToDictionary(l => $"{l.Key}={l.Value}", _ => true),
    };

    private static IReadOnlyDictionary<string, string> Labels(IDictionary<string, string>? labels) =>
        labels is null ? new Dictionary<string, string>() : new Dictionary<string, string>(labels);

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

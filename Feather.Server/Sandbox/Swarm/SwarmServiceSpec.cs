using Docker.DotNet.Models;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>Everything that decides how one step's swarm job is created.</summary>
/// <param name="Name">The service's name (also its network's; its secrets are Name-000, Name-001, ...).</param>
/// <param name="Image">The step image by digest in the lab's registry (registry/feather-version@sha256:...).</param>
/// <param name="Command">The image's own entrypoint and command: the wrapper runs it with the request on stdin.</param>
/// <param name="NetworkId">The step's own internal overlay network (no gateway, no other member).</param>
/// <param name="Secrets">The request's chunks, in order: (secret id, secret name).</param>
/// <param name="LogBytes">What the node's log driver keeps of the step's output (json-file max-size).</param>
/// <param name="AsJob">A replicated job of one completion; false: one replica with restart condition none (see <see cref="SwarmOptions.ServiceMode"/>).</param>
public sealed record SwarmStepSpec(
    string Name,
    string Image,
    IReadOnlyList<string> Command,
    string Profile,
    ProfileLimits Limits,
    string OwnerId,
    IReadOnlyDictionary<string, string> Labels,
    string NetworkId,
    IReadOnlyList<(string Id, string Name)> Secrets,
    long LogBytes,
    SwarmOptions Options,
    bool AsJob = true);

/// <summary>
/// The one place where a step becomes a swarm service: a replicated job of one task, never restarted, with the
/// sandbox of <see cref="SandboxParameters.Create"/> in swarm terms (read-only root, tmpfs /tmp, the profile's
/// memory, CPUs and pids as limits, every capability dropped, the sandbox user, no network but its own internal
/// overlay). Pure: no Docker calls.
/// </summary>
public static class SwarmServiceSpec
{
    /// <summary>On the service, its network and secrets, and its containers: the step's name (the reaper tells live steps by it).</summary>
    public const string StepLabel = "org.feather.swarm-step";

    /// <summary>Where the request's chunks are mounted; the wrapper concatenates them in name order onto stdin.</summary>
    public const string RequestDir = "/run/secrets";
    public const string RequestPrefix = "feather-request-";

    /// <summary>The labels of the service, its network and its secrets (managed and owned: the swarm reaper lists them).</summary>
    public static Dictionary<string, string> OwnLabels(string name, string ownerId, string profile, IReadOnlyDictionary<string, string>? extra = null)
    {
        var labels = new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            [SandboxParameters.ManagedLabel] = "true",
            [SandboxParameters.OwnerLabel] = ownerId,
            [SandboxParameters.ProfileLabel] = profile,
            [StepLabel] = name,
        };
        return labels;
    }

    /// <summary>The file name of chunk <paramref name="index"/> (zero-padded, so name order is chunk order).</summary>
    public static string ChunkFile(int index) => $"{RequestPrefix}{index:D3}";

    /// <summary>Splits the request into the chunks handed to the step as secrets.</summary>
    public static IReadOnlyList<byte[]> Chunks(byte[] request)
    {
        if (request.Length > SwarmOptions.MaxRequestBytes)
            throw new ArgumentException($"the step's request is {request.Length} bytes; a swarm step takes at most {SwarmOptions.MaxRequestBytes}");
        var chunks = new List<byte[]>();
        for (var offset = 0; offset < request.Length || chunks.Count == 0; offset += SwarmOptions.SecretChunkBytes)
            chunks.Add(request[offset..Math.Min(request.Length, offset + SwarmOptions.SecretChunkBytes)]);
        return chunks;
    }

    /// <summary>The placement constraint of a GPU step when GPUs are found by node label.</summary>
    public static string GpuConstraint(SwarmOptions o) => $"node.labels.{o.GpuNodeLabel}==true";

    /// <summary>What a pre-pull task runs: a path no image has, so the container is created (its image pulled) and never starts.</summary>
    public const string PrePullCommand = "/.feather-pre-pull-runs-nothing";

    /// <summary>
    /// A global service of one task per eligible node (the GPU nodes for a GPU profile) that makes every node pull
    /// <paramref name="image"/> ahead of the version's first step there. Its task runs nothing of the image: the
    /// command is a path that does not exist, so the container fails to start once its image is on the node. Never
    /// restarted, no reservation, the sandbox's limits and settings all the same.
    /// </summary>
    public static ServiceCreateParameters PrePull(string name, string image, string ownerId, string profile, ProfileLimits limits, SwarmOptions o)
    {
        var constraints = new List<string> { "node.platform.os==linux" };
        var reservations = new SwarmResources();
        if (limits.Gpu)
        {
            if (!string.IsNullOrEmpty(o.GpuResource)) // a node offering the resource: held only while the container fails to start
                reservations.GenericResources = [new GenericResource { DiscreteResourceSpec = new DiscreteGenericResource { Kind = o.GpuResource, Value = 1 } }];
            else
                constraints.Add(GpuConstraint(o));
        }
        return new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = name,
                Labels = OwnLabels(name, ownerId, profile),
                Mode = new ServiceMode { Global = new GlobalService() },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = new ContainerSpec
                    {
                        Image = image,
                        Command = [PrePullCommand],
                        Labels = new Dictionary<string, string> { [SandboxParameters.OwnerLabel] = ownerId, [StepLabel] = name },
                        User = SandboxParameters.SandboxUser,
                        ReadOnly = true,
                        Env = [],
                        CapabilityDrop = ["ALL"],
                        Privileges = new Privileges { NoNewPrivileges = true },
                        StopSignal = "SIGKILL",
                    },
                    Resources = new ResourceRequirements
                    {
                        Limits = new SwarmLimit { MemoryBytes = 64 * SandboxParameters.MiB, NanoCPUs = 100_000_000, Pids = 16 },
                        Reservations = reservations,
                    },
                    RestartPolicy = new SwarmRestartPolicy { Condition = "none", MaxAttempts = 0 },
                    Placement = new Placement { Constraints = constraints },
                    LogDriver = new SwarmDriver { Name = "none" },
                },
            },
        };
    }

    public static ServiceCreateParameters Create(SwarmStepSpec spec)
    {
        var limits = spec.Limits;
        var o = spec.Options;
        var memory = limits.MemoryMiB * SandboxParameters.MiB;
        var nanoCpus = (long)Math.Round(limits.Cpus * 1_000_000_000);
        var labels = OwnLabels(spec.Name, spec.OwnerId, spec.Profile, spec.Labels);
        // Containers carry the step label and owner but not org.feather.managed: the local reaper of a server on a
        // node must not take a running swarm step for a leftover local container.
        var containerLabels = new Dictionary<string, string>(spec.Labels)
        {
            [SandboxParameters.OwnerLabel] = spec.OwnerId,
            [SandboxParameters.ProfileLabel] = spec.Profile,
            [StepLabel] = spec.Name,
        };
        var reservations = new SwarmResources();
        if (o.ReserveResources)
        {
            reservations.MemoryBytes = memory;
            reservations.NanoCPUs = nanoCpus;
        }
        var constraints = new List<string> { "node.platform.os==linux" };
        if (limits.Gpu)
        {
            if (!string.IsNullOrEmpty(o.GpuResource))
                reservations.GenericResources = [new GenericResource { DiscreteResourceSpec = new DiscreteGenericResource { Kind = o.GpuResource, Value = 1 } }];
            else
                constraints.Add(GpuConstraint(o));
        }
        // sh -c 'cat chunks | exec "$@"' step <entrypoint...>: the request reaches the runtime on stdin, as in a local step
        List<string> command =
        [
            "/bin/sh", "-c", $"cat {RequestDir}/{RequestPrefix}* | exec \"$@\"", "feather-step", .. spec.Command,
        ];
        return new ServiceCreateParameters
        {
            Service = new ServiceSpec
            {
                Name = spec.Name,
                Labels = labels,
                Mode = spec.AsJob
                    ? new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = 1, TotalCompletions = 1 } }
                    : new ServiceMode { Replicated = new ReplicatedService { Replicas = 1 } },
                TaskTemplate = new TaskSpec
                {
                    ContainerSpec = new ContainerSpec
                    {
                        Image = spec.Image,
                        Command = command,
                        Labels = containerLabels,
                        User = SandboxParameters.SandboxUser,
                        Hostname = "sandbox",
                        ReadOnly = true,
                        Env = [],
                        CapabilityDrop = ["ALL"],
                        Privileges = new Privileges { NoNewPrivileges = true },
                        Init = false,
                        TTY = false,
                        OpenStdin = false,
                        StopSignal = "SIGKILL",
                        StopGracePeriod = TimeSpan.FromSeconds(1),
                        Mounts =
                        [
                            new Mount
                            {
                                Type = "tmpfs",
                                Target = "/tmp",
                                TmpfsOptions = new TmpfsOptions { SizeBytes = limits.TmpfsMiB * SandboxParameters.MiB, Mode = 1023 /* 01777 */ },
                            },
                        ],
                        Ulimits =
                        [
                            new Ulimit { Name = "nofile", Soft = 1024, Hard = 4096 },
                            new Ulimit { Name = "core", Soft = 0, Hard = 0 },
                        ],
                        Secrets = spec.Secrets.Select((s, i) => new SecretReference
                        {
                            SecretID = s.Id,
                            SecretName = s.Name,
                            File = new SecretReferenceFileTarget { Name = ChunkFile(i), UID = "10001", GID = "10001", Mode = 256 /* 0400 */ },
                        }).ToList(),
                    },
                    Resources = new ResourceRequirements
                    {
                        Limits = new SwarmLimit { MemoryBytes = memory, NanoCPUs = nanoCpus, Pids = limits.PidsLimit },
                        Reservations = reservations,
                    },
                    RestartPolicy = new SwarmRestartPolicy { Condition = "none", MaxAttempts = 0 },
                    Placement = new Placement { Constraints = constraints },
                    Networks = [new NetworkAttachmentConfig { Target = spec.NetworkId }],
                    // readable back through the manager (service logs), bounded on the node's disk
                    LogDriver = new SwarmDriver
                    {
                        Name = "json-file",
                        Options = new Dictionary<string, string> { ["max-size"] = spec.LogBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), ["max-file"] = "2" },
                    },
                },
            },
        };
    }
}

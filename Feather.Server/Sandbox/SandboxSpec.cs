using Docker.DotNet.Models;

namespace Feather.Server.Sandbox;

/// <summary>Everything that decides how one step's container is created.</summary>
/// <param name="Name">The container's name (unique; the reaper tells live steps by it).</param>
/// <param name="Image">The version image.</param>
/// <param name="Profile">low, medium or high.</param>
/// <param name="Limits">The profile's limits.</param>
/// <param name="OwnerId">This server's instance id (label org.feather.owner).</param>
/// <param name="Labels">The request's labels (run, step, model ids).</param>
/// <param name="Env">Environment variables of the container (a prepared container gets FEATHER_ENTRYPOINT).</param>
/// <param name="ReadOnlyFiles">Files bound read-only into the container (a version's weights, <see cref="VersionWeights"/>).</param>
public sealed record SandboxSpec(
    string Name,
    string Image,
    string Profile,
    ProfileLimits Limits,
    string OwnerId,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string>? Env = null,
    IReadOnlyList<EngineMount>? ReadOnlyFiles = null);

/// <summary>The one place where a step's sandbox spec becomes Docker create parameters. Pure: no Docker calls.</summary>
public static class SandboxParameters
{
    public const string ManagedLabel = "org.feather.managed";
    public const string OwnerLabel = "org.feather.owner";
    public const string ProfileLabel = "org.feather.profile";
    public const string SandboxUser = "10001:10001";
    public const long MiB = 1024 * 1024;
    public const long ShmBytes = 8 * MiB;

    /// <summary>
    /// The step's file area: an anonymous volume of its own (on the engine's disk, not in its memory), removed with
    /// the container. The runner streams input files into <c>in/</c> and reads output files from <c>out/</c>
    /// through the engine's archive API, so no host path is mounted (docs/contracts.md section 3).
    /// </summary>
    public const string FilesDirectory = "/feather/io";

    public static CreateContainerParameters Create(SandboxSpec spec)
    {
        var limits = spec.Limits;
        var labels = new Dictionary<string, string>(spec.Labels)
        {
            [ManagedLabel] = "true",
            [OwnerLabel] = spec.OwnerId,
            [ProfileLabel] = spec.Profile,
        };
        var memory = limits.MemoryMiB * MiB;
        var host = new HostConfig
        {
            NetworkMode = "none",
            ReadonlyRootfs = true,
            Tmpfs = new Dictionary<string, string>
            {
                ["/tmp"] = $"rw,nosuid,nodev,size={limits.TmpfsMiB}m,mode=1777",
            },
            Memory = memory,
            MemorySwap = memory, // equal to Memory: no swap
            NanoCPUs = (long)Math.Round(limits.Cpus * 1_000_000_000),
            PidsLimit = limits.PidsLimit,
            CapDrop = ["ALL"],
            SecurityOpt = ["no-new-privileges"],
            Privileged = false,
            IpcMode = "private",
            ShmSize = ShmBytes, // /dev/shm is the one writable place besides /tmp and the file area: keep it small
            // the file area, then the version's weights: bound read-only (the step can neither change nor add to them)
            Mounts =
            [
                new Mount { Type = "volume", Target = FilesDirectory },
                .. (spec.ReadOnlyFiles ?? []).Select(f => new Mount { Type = "bind", Source = f.Source, Target = f.Target, ReadOnly = true }),
            ],
            // open files bounded whatever the engine's default; no core dumps (a host core_pattern
            // handler would otherwise run for a crashing step)
            Ulimits =
            [
                new Ulimit { Name = "nofile", Soft = 1024, Hard = 4096 },
                new Ulimit { Name = "core", Soft = 0, Hard = 0 },
            ],
            // The step's output travels through attach; nothing is kept by the engine's log driver.
            LogConfig = new LogConfig { Type = "none", Config = new Dictionary<string, string>() },
            AutoRemove = false, // removed explicitly after its exit state is inspected
        };
        if (limits.Gpu)
        {
            host.DeviceRequests =
            [
                new DeviceRequest { Driver = "nvidia", Count = -1, Capabilities = [["gpu"]] },
            ];
        }
        return new CreateContainerParameters
        {
            Name = spec.Name,
            Image = spec.Image,
            User = SandboxUser,
            Hostname = "sandbox",
            NetworkDisabled = true,
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
            OpenStdin = true,
            StdinOnce = true,
            Tty = false,
            Env = spec.Env is null ? [] : spec.Env.Select(e => $"{e.Key}={e.Value}").ToList(),
            Labels = labels,
            HostConfig = host,
        };
    }
}

namespace Feather.Server.Sandbox;

/// <summary>
/// The one seam between Feather and a container engine: the operations the runner needs (step
/// containers, the images it builds and removes, what the engine can do), in Feather's own terms.
/// <see cref="DockerContainerEngine"/> implements it once over Docker.DotNet; nothing else talks to
/// Docker. Another runner (Swarm, Kubernetes) implements the same interface. Failures the callers act on
/// are <see cref="ContainerNotFoundException"/>, <see cref="ImageNotFoundException"/> and
/// <see cref="ContainerEngineException"/>; an unreachable engine surfaces as the transport's own exception
/// (<see cref="HttpRequestException"/>, <see cref="IOException"/>, <see cref="TimeoutException"/>).
/// </summary>
public interface IContainerEngine
{
    /// <summary>Where the engine is (for logs).</summary>
    Uri Endpoint { get; }

    /// <summary>The engine's version and its runtimes (a GPU runtime is named nvidia...).</summary>
    Task<EngineInfo> GetInfoAsync(CancellationToken ct);

    /// <summary>Creates (does not start) the hardened container of <paramref name="spec"/>; returns its id.</summary>
    Task<string> CreateContainerAsync(SandboxSpec spec, CancellationToken ct);

    /// <summary>Attaches to a created container's stdin, stdout and stderr (before it starts, so no output is lost).</summary>
    Task<IContainerStream> AttachAsync(string id, CancellationToken ct);

    Task StartContainerAsync(string id, CancellationToken ct);

    /// <summary>Waits for the container to exit; returns its exit code.</summary>
    Task<long> WaitContainerAsync(string id, CancellationToken ct);

    /// <summary>True when the engine killed the container for going past its memory limit.</summary>
    Task<bool> WasOomKilledAsync(string id, CancellationToken ct);

    /// <summary>Kills the container (SIGKILL).</summary>
    Task KillContainerAsync(string id, CancellationToken ct);

    /// <summary>
    /// Extracts the tar stream <paramref name="tar"/> into the container at <paramref name="path"/> (a volume of a
    /// read-only container), reading it as it goes: files reach a step without a host bind mount.
    /// </summary>
    Task PutArchiveAsync(string id, string path, Stream tar, CancellationToken ct);

    /// <summary>A tar stream of <paramref name="path"/> in the container (running or exited), read as it arrives.</summary>
    Task<Stream> GetArchiveAsync(string id, string path, CancellationToken ct);

    /// <summary>Removes the container and its volumes, running or not.</summary>
    Task RemoveContainerAsync(string id, CancellationToken ct);

    /// <summary>All containers (running or not); with <paramref name="labels"/>, only those carrying every one of them.</summary>
    Task<IReadOnlyList<EngineContainer>> ListContainersAsync(IReadOnlyDictionary<string, string>? labels, CancellationToken ct);

    /// <summary>The images carrying <paramref name="label"/>=<paramref name="value"/>.</summary>
    Task<IReadOnlyList<EngineImage>> ListImagesAsync(string label, string value, CancellationToken ct);

    /// <summary>The id of <paramref name="image"/> (a tag or id), or null when the engine does not have it.</summary>
    Task<string?> FindImageAsync(string image, CancellationToken ct);

    /// <summary>The labels of <paramref name="image"/> (a tag or id), or null when the engine does not have it.</summary>
    Task<IReadOnlyDictionary<string, string>?> ImageLabelsAsync(string image, CancellationToken ct);

    /// <summary>
    /// The mounts of container <paramref name="idOrName"/> (source on the engine's machine, target inside), or null when
    /// there is no such container: how a server running in a container finds its data directory's path on the host.
    /// </summary>
    Task<IReadOnlyList<EngineMount>?> ContainerMountsAsync(string idOrName, CancellationToken ct);

    /// <summary>Untags <paramref name="tagOrId"/> without force; the engine deletes the image with its last tag and refuses one in use.</summary>
    Task RemoveImageAsync(string tagOrId, CancellationToken ct);

    /// <summary>
    /// Builds an image from a tar <paramref name="context"/> holding a file named Dockerfile; the build's
    /// output and its error (if any) arrive in order through <paramref name="progress"/>.
    /// </summary>
    Task BuildImageAsync(ImageBuildSpec spec, Stream context, IProgress<ImageBuildMessage> progress, CancellationToken ct);

    /// <summary>
    /// What an image made on top of <paramref name="image"/> (a tag or id) starts from: its id, platform, container
    /// configuration and layers; null when the engine does not have it.
    /// </summary>
    Task<EngineImageConfig?> ImageConfigAsync(string image, CancellationToken ct);

    /// <summary>
    /// Loads the images of a docker-archive tar (the format of <c>docker save</c>: manifest.json, configurations,
    /// layer tars) and tags them as its manifest says. The Docker engine reads only the layers it does not hold
    /// already, so an archive may leave those out; an engine that needs them refuses it.
    /// </summary>
    Task LoadImagesAsync(Stream archive, CancellationToken ct);
}

/// <summary>A container's attached standard streams.</summary>
public interface IContainerStream : IDisposable
{
    /// <summary>Writes <paramref name="bytes"/> to stdin, then closes stdin.</summary>
    Task WriteInputAsync(byte[] bytes, CancellationToken ct);

    /// <summary>Reads the next chunk of stdout or stderr into <paramref name="buffer"/>.</summary>
    Task<ContainerOutput> ReadOutputAsync(byte[] buffer, CancellationToken ct);
}

/// <param name="Count">Bytes read into the buffer.</param>
/// <param name="IsStdout">True for stdout, false for stderr.</param>
/// <param name="End">True when both streams have ended (nothing was read).</param>
public readonly record struct ContainerOutput(int Count, bool IsStdout, bool End);

public sealed record EngineInfo(string Version, IReadOnlyList<string> Runtimes);

/// <param name="Name">Its name, without Docker's leading '/'.</param>
public sealed record EngineContainer(string Id, string Name, string ImageId, string State);

/// <summary>A container's mount: <paramref name="Source"/> on the engine's machine, at <paramref name="Target"/> in the container.</summary>
public sealed record EngineMount(string Source, string Target);

public sealed record EngineImage(string Id, IReadOnlyList<string> Tags, IReadOnlyDictionary<string, string> Labels, DateTime Created);

/// <summary>One image build: its tag and labels, and what it may take from the machine.</summary>
/// <param name="Network">The build's network mode: <c>none</c>, or the network configured for builds that install packages.</param>
public sealed record ImageBuildSpec(string Tag, IReadOnlyDictionary<string, string> Labels, long MemoryBytes, double Cpus, string Network = "none");

/// <summary>An image's configuration, as a new image on top of it inherits it.</summary>
/// <param name="Config">The container configuration (user, environment, entrypoint, working directory, labels...)
/// in the engine's own JSON, which is also the <c>config</c> of an image configuration.</param>
/// <param name="DiffIds">Its layers (the SHA-256 of each uncompressed layer tar, sha256:&lt;hex&gt;), bottom first.</param>
public sealed record EngineImageConfig(string Id, string Architecture, string Os, string? Variant,
    System.Text.Json.Nodes.JsonObject Config, IReadOnlyList<string> DiffIds);

/// <summary>A chunk of a build's output (<paramref name="Text"/>), or its error.</summary>
public sealed record ImageBuildMessage(string? Text, string? Error);

/// <summary>The engine refused an operation; <see cref="Detail"/> is its answer.</summary>
public class ContainerEngineException(string message, string? detail, Exception? inner = null) : Exception(message, inner)
{
    public string Detail { get; } = detail ?? "";
}

public sealed class ContainerNotFoundException(string message, string? detail, Exception? inner = null)
    : ContainerEngineException(message, detail, inner);

public sealed class ImageNotFoundException(string message, string? detail, Exception? inner = null)
    : ContainerEngineException(message, detail, inner);

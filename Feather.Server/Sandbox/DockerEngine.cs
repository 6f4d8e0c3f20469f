using Docker.DotNet;
using Docker.DotNet.Models;
using Version = System.Version;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>Where the Docker engine is, configuration section <c>Docker</c>.</summary>
public sealed class DockerOptions
{
    public const string Section = "Docker";

    /// <summary>
    /// The engine's endpoint (unix:///var/run/docker.sock, tcp://host:2375, ...). When not configured,
    /// DOCKER_HOST is used, then the local socket. Nothing in the runner assumes the engine is local.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>Pins the Engine API version (e.g. 1.41); empty: the engine's own.</summary>
    public string? ApiVersion { get; set; }

    public const string DefaultEndpoint = "unix:///var/run/docker.sock";

    /// <summary>The endpoint used: the configured one, else DOCKER_HOST, else the local socket.</summary>
    public Uri ResolveEndpoint()
    {
        var value = !string.IsNullOrWhiteSpace(Endpoint) ? Endpoint
            : Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host
            : DefaultEndpoint;
        return new Uri(value);
    }
}

public sealed class DockerOptionsValidator : IValidateOptions<DockerOptions>
{
    public ValidateOptionsResult Validate(string? name, DockerOptions o)
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(o.Endpoint)
            && (!Uri.TryCreate(o.Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "tcp" or "http" or "https" or "npipe")))
            errors.Add($"Docker:Endpoint must be an absolute URI with scheme unix, tcp, http, https or npipe (got '{o.Endpoint}').");
        if (!string.IsNullOrWhiteSpace(o.ApiVersion) && !Version.TryParse(o.ApiVersion, out _))
            errors.Add($"Docker:ApiVersion must look like 1.41 (got '{o.ApiVersion}').");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// The runner's one connection to the Docker engine. Only <see cref="DockerContainerEngine"/> uses
/// <see cref="Client"/> (and the runner's tests, to look at the engine from outside).
/// </summary>
public sealed class DockerEngine(IOptions<DockerOptions> options) : IDisposable
{
    // Made on first use, not when the container builds the runner: the options are checked at start-up
    // with the others, so every bad key is reported at once.
    private readonly Lazy<DockerClient> _client = new(() =>
    {
        var o = options.Value;
        var builder = new DockerClientBuilder().WithEndpoint(o.ResolveEndpoint());
        if (!string.IsNullOrWhiteSpace(o.ApiVersion)) builder = builder.WithApiVersion(Version.Parse(o.ApiVersion));
        return builder.Build();
    });

    public Uri Endpoint => options.Value.ResolveEndpoint();

    public DockerClient Client => _client.Value;

    public void Dispose()
    {
        if (_client.IsValueCreated) _client.Value.Dispose();
    }
}

/// <summary>
/// <see cref="IContainerEngine"/> over Docker.DotNet: the only code that calls the Docker API. Step
/// containers are created from <see cref="SandboxParameters.Create"/>; Docker's errors become the seam's
/// exceptions (<see cref="ContainerNotFoundException"/>, <see cref="ImageNotFoundException"/>,
/// <see cref="ContainerEngineException"/> with the engine's answer as its detail).
/// </summary>
public sealed class DockerContainerEngine(DockerEngine docker) : IContainerEngine
{
    private IContainerOperations Containers => docker.Client.Containers;
    private IImageOperations Images => docker.Client.Images;

    public Uri Endpoint => docker.Endpoint;

    public Task<EngineInfo> GetInfoAsync(CancellationToken ct) => Call(async () =>
    {
        var info = await docker.Client.System.GetSystemInfoAsync(ct);
        return new EngineInfo(info.ServerVersion ?? "", [.. info.Runtimes?.Keys ?? []]);
    });

    public Task<string> CreateContainerAsync(SandboxSpec spec, CancellationToken ct) =>
        Call(async () => (await Containers.CreateContainerAsync(SandboxParameters.Create(spec), ct)).ID);

    public Task<IContainerStream> AttachAsync(string id, CancellationToken ct) => Call(async () =>
    {
        var stream = await Containers.AttachContainerAsync(id,
            new ContainerAttachParameters { Stream = true, Stdin = true, Stdout = true, Stderr = true }, ct);
        return (IContainerStream)new DockerContainerStream(stream);
    });

    public Task StartContainerAsync(string id, CancellationToken ct) =>
        Call(async () => await Containers.StartContainerAsync(id, new ContainerStartParameters(), ct));

    public Task<long> WaitContainerAsync(string id, CancellationToken ct) =>
        Call(async () => (await Containers.WaitContainerAsync(id, ct)).StatusCode);

    public Task<bool> WasOomKilledAsync(string id, CancellationToken ct) =>
        Call(async () => (await Containers.InspectContainerAsync(id, ct)).State?.OOMKilled ?? false);

    public Task KillContainerAsync(string id, CancellationToken ct) =>
        Call(async () => await Containers.KillContainerAsync(id, new ContainerKillParameters { Signal = "KILL" }, ct));

    public Task RemoveContainerAsync(string id, CancellationToken ct) =>
        Call(async () => await Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct));

    public Task<IReadOnlyList<EngineContainer>> ListContainersAsync(IReadOnlyDictionary<string, string>? labels, CancellationToken ct) =>
        Call(async () =>
        {
            var parameters = new ContainersListParameters { All = true };
            if (labels is { Count: > 0 })
                parameters.Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = labels.ToDictionary(l => $"{l.Key}={l.Value}", _ => true),
                };
            var listed = await Containers.ListContainersAsync(parameters, ct);
            return (IReadOnlyList<EngineContainer>)listed.Select(c => new EngineContainer(c.ID,
                (c.Names ?? []).Select(n => n.TrimStart('/')).FirstOrDefault() ?? "", c.ImageID ?? "", c.State ?? "")).ToList();
        });

    public Task<IReadOnlyList<EngineImage>> ListImagesAsync(string label, string value, CancellationToken ct) => Call(async () =>
    {
        var listed = await Images.ListImagesAsync(new ImagesListParameters
        {
            All = false,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{label}={value}"] = true },
            },
        }, ct);
        return (IReadOnlyList<EngineImage>)listed.Select(i => new EngineImage(i.ID,
            (i.RepoTags ?? []).Where(t => t != "<none>:<none>").ToList(),
            (IReadOnlyDictionary<string, string>?)(i.Labels is null ? null : new Dictionary<string, string>(i.Labels)) ?? new Dictionary<string, string>(),
            i.Created.ToUniversalTime())).ToList();
    });

    public async Task<string?> FindImageAsync(string image, CancellationToken ct)
    {
        try
        {
            return await Call(async () => (await Images.InspectImageAsync(image, ct)).ID);
        }
        catch (ImageNotFoundException)
        {
            return null;
        }
    }

    public async Task<IReadOnlyDictionary<string, string>?> ImageLabelsAsync(string image, CancellationToken ct)
    {
        try
        {
            return await Call(async () =>
                (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(
                    (await Images.InspectImageAsync(image, ct)).Config?.Labels ?? new Dictionary<string, string>()));
        }
        catch (ImageNotFoundException)
        {
            return null;
        }
    }

    public Task RemoveImageAsync(string tagOrId, CancellationToken ct) =>
        Call(async () => await Images.DeleteImageAsync(tagOrId, new ImageDeleteParameters { Force = false, NoPrune = false }, ct));

    public Task BuildImageAsync(ImageBuildSpec spec, Stream context, IProgress<ImageBuildMessage> progress, CancellationToken ct) =>
        Call(async () =>
        {
            var messages = new SyncProgress<JSONMessage>(m => progress.Report(m.Error is not null
                ? new ImageBuildMessage(null, string.IsNullOrWhiteSpace(m.Error.Message) ? $"build failed (code {m.Error.Code})" : m.Error.Message.Trim())
                : new ImageBuildMessage(m.Stream ?? m.Status, null)));
            await Images.BuildImageFromDockerfileAsync(
                new ImageBuildParameters
                {
                    Tags = [spec.Tag],
                    Labels = spec.Labels.ToDictionary(l => l.Key, l => l.Value),
                    Remove = true,
                    ForceRemove = true,
                    Dockerfile = "Dockerfile",
                    NetworkMode = spec.Network,
                    Memory = spec.MemoryBytes,
                    MemorySwap = spec.MemoryBytes,
                    CPUPeriod = 100_000,
                    CPUQuota = (long)Math.Round(spec.Cpus * 100_000),
                },
                context, null, null, messages, ct);
        });

    private static async Task Call(Func<Task> call) => await Call(async () =>
    {
        await call();
        return true;
    });

    /// <summary>Runs a Docker call, turning Docker's errors into the seam's.</summary>
    private static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (DockerContainerNotFoundException e)
        {
            throw new ContainerNotFoundException(e.Message, e.ResponseBody, e);
        }
        catch (DockerImageNotFoundException e)
        {
            throw new ImageNotFoundException(e.Message, e.ResponseBody, e);
        }
        catch (DockerApiException e)
        {
            throw new ContainerEngineException(e.Message, e.ResponseBody, e);
        }
    }

    /// <summary>Reports synchronously, in order (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    private sealed class DockerContainerStream(MultiplexedStream stream) : IContainerStream
    {
        public async Task WriteInputAsync(byte[] bytes, CancellationToken ct)
        {
            await stream.WriteAsync(bytes, 0, bytes.Length, ct);
            stream.CloseWrite();
        }

        public async Task<ContainerOutput> ReadOutputAsync(byte[] buffer, CancellationToken ct)
        {
            var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, ct);
            return new ContainerOutput(read.Count, read.Target == MultiplexedStream.TargetStream.StandardOut, read.EOF);
        }

        public void Dispose() => stream.Dispose();
    }
}

using static Feather.Server.Sandbox.DockerErrors;
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

    // .NET's HTTP client on the same endpoint, for long streamed answers (file archives).
    private readonly Lazy<HttpClient> _raw = new(() =>
    {
        var endpoint = options.Value.ResolveEndpoint();
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        Uri address;
        if (endpoint.Scheme == "unix")
        {
            var socketPath = endpoint.LocalPath;
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
                    System.Net.Sockets.ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), ct);
                    return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            address = new Uri("http://docker/");
        }
        else
        {
            address = new UriBuilder(endpoint) { Scheme = endpoint.Scheme == "tcp" ? "http" : endpoint.Scheme, Path = "/" }.Uri;
        }
        if (!string.IsNullOrWhiteSpace(options.Value.ApiVersion)) address = new Uri(address, $"v{options.Value.ApiVersion}/");
        return new HttpClient(handler) { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
    });

    /// <summary>The engine's HTTP API through .NET's own client (only <see cref="DockerContainerEngine"/> uses it).</summary>
    public HttpClient Raw => _raw.Value;

    public void Dispose()
    {
        if (_client.IsValueCreated) _client.Value.Dispose();
        if (_raw.IsValueCreated) _raw.Value.Dispose();
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

    public Task PutArchiveAsync(string id, string path, Stream tar, CancellationToken ct) =>
        Call(async () => await Containers.ExtractArchiveToContainerAsync(id,
            new CopyToContainerParameters { Path = path, AllowOverwriteDirWithFile = false }, tar, ct));

    /// <remarks>
    /// Read with .NET's own HTTP client over the engine's socket: Docker.DotNet's chunked decoding ends long archive
    /// streams early ("Attempted to read past the end of the stream").
    /// </remarks>
    public async Task<Stream> GetArchiveAsync(string id, string path, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Get,
            $"containers/{Uri.EscapeDataString(id)}/archive?path={Uri.EscapeDataString(path)}");
        var response = await docker.Raw.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.IsSuccessStatusCode) return new ResponseStream(response, await response.Content.ReadAsStreamAsync(ct));
        var body = await response.Content.ReadAsStringAsync(ct);
        var status = response.StatusCode;
        response.Dispose();
        if (status == System.Net.HttpStatusCode.NotFound)
            throw new ContainerNotFoundException($"no {path} in container {id}", body);
        throw new ContainerEngineException($"the engine refused the archive of {path} ({(int)status})", body);
    }

    /// <summary>A response's body that disposes the response with it.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.ReadAsync(buffer, offset, count, ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }

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

    public async Task<IReadOnlyList<EngineMount>?> ContainerMountsAsync(string idOrName, CancellationToken ct)
    {
        try
        {
            return await Call(async () =>
                (IReadOnlyList<EngineMount>)((await Containers.InspectContainerAsync(idOrName, ct)).Mounts ?? [])
                    .Select(m => new EngineMount(m.Source ?? "", m.Destination ?? "")).ToList());
        }
        catch (ContainerNotFoundException)
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

    public async Task<EngineImageConfig?> ImageConfigAsync(string image, CancellationToken ct)
    {
        // the engine's own JSON, through .NET's client: the configuration is passed on as it is, not through a model
        System.Net.HttpStatusCode status;
        string body;
        try
        {
            using var response = await docker.Raw.GetAsync($"images/{Uri.EscapeDataString(image)}/json", ct);
            status = response.StatusCode;
            body = await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException e)
        {
            throw new ContainerEngineException($"the engine did not answer the inspection of {image}", e.Message, e);
        }
        if (status == System.Net.HttpStatusCode.NotFound) return null;
        if ((int)status is < 200 or > 299)
            throw new ContainerEngineException($"the engine refused to inspect {image} ({(int)status})", body);
        System.Text.Json.Nodes.JsonObject inspected;
        try
        {
            inspected = System.Text.Json.Nodes.JsonNode.Parse(body) as System.Text.Json.Nodes.JsonObject
                ?? throw new System.Text.Json.JsonException("not an object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ContainerEngineException($"the engine's description of {image} is not a JSON object", e.Message, e);
        }
        string Text(string name) => inspected[name] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var t) ? t : "";
        var layers = (inspected["RootFS"]?["Layers"] as System.Text.Json.Nodes.JsonArray ?? []).Select(l => l?.GetValue<string>() ?? "").ToList();
        var config = inspected["Config"] as System.Text.Json.Nodes.JsonObject ?? [];
        return new EngineImageConfig(Text("Id"), Text("Architecture"), Text("Os"), Text("Variant") is { Length: > 0 } variant ? variant : null,
            (System.Text.Json.Nodes.JsonObject)config.DeepClone(), layers);
    }

    public async Task LoadImagesAsync(Stream archive, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "images/load?quiet=1") { Content = new StreamContent(archive, 64 * 1024) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        System.Net.HttpStatusCode status;
        string body;
        try
        {
            using var response = await docker.Raw.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            status = response.StatusCode;
            body = await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException e)
        {
            // the engine closed the connection before it answered (it stops reading an archive it refuses)
            throw new ContainerEngineException("the engine did not answer the load of the image", e.Message, e);
        }
        if ((int)status is < 200 or > 299)
            throw new ContainerEngineException($"the engine refused to load the image ({(int)status})", body.Trim());
        // a load that fails part-way answers 200 with an error in its message stream
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            System.Text.Json.Nodes.JsonNode? message;
            try
            {
                message = System.Text.Json.Nodes.JsonNode.Parse(line);
            }
            catch (System.Text.Json.JsonException)
            {
                continue;
            }
            if (message is not System.Text.Json.Nodes.JsonObject m) continue;
            if (((m["errorDetail"] as System.Text.Json.Nodes.JsonObject)?["message"] ?? m["error"]) is { } error)
                throw new ContainerEngineException("the engine refused to load the image", error.ToString());
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

/// <summary>
/// Docker's errors in the seam's terms, for every class that calls Docker.DotNet (the engine, and swarm mode's
/// client): not found becomes <see cref="ContainerNotFoundException"/> or <see cref="ImageNotFoundException"/>, any
/// other refusal <see cref="ContainerEngineException"/>.
/// </summary>
internal static class DockerErrors
{
    public static async Task Call(Func<Task> call) => await Call(async () =>
    {
        await call();
        return true;
    });

    /// <summary>Runs a Docker call, turning Docker's errors into the seam's.</summary>
    public static async Task<T> Call<T>(Func<Task<T>> call)
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
}

using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Blobs;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using ImageBuildResult = Feather.Server.Environments.ImageBuildResult;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Feather.Server.Tests.Sandbox;

/// <summary>A content-addressed blob store in memory (the real one belongs to the server's Blobs feature).</summary>
public sealed class MemoryBlobStore : IBlobStore
{
    private readonly ConcurrentDictionary<string, byte[]> _blobs = new();

    public string Put(byte[] bytes)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        _blobs[hash] = bytes;
        return hash;
    }

    public Task<bool> ExistsAsync(string sha256, CancellationToken ct) => Task.FromResult(_blobs.ContainsKey(sha256));

    public Task<Stream> OpenReadAsync(string sha256, CancellationToken ct) =>
        _blobs.TryGetValue(sha256, out var bytes)
            ? Task.FromResult<Stream>(new MemoryStream(bytes, writable: false))
            : throw new FileNotFoundException($"blob {sha256} not found");
}

/// <summary>
/// The runner wired as the server wires it (AddRunner) against the real Docker engine, with a test
/// runner image (feather-base:bookworm + a stand-in runtime) and a version image holding the test models,
/// built through <see cref="DockerImageBuilder"/>. Everything it creates is removed at the end.
/// </summary>
public sealed class RunnerFixture : IAsyncLifetime
{
    public string InstanceId { get; } = "test-" + Guid.NewGuid().ToString("n")[..8];
    public string RunnerImage { get; }
    public string ModelId { get; }
    public ServiceProvider Services { get; private set; } = null!;
    public MemoryBlobStore Blobs { get; } = new();
    public string VersionImage { get; private set; } = "";
    public ImageBuildResult FirstBuild { get; private set; } = null!;
    public DockerClient Docker => Services.GetRequiredService<DockerEngine>().Client;
    private readonly List<string> _images = [];

    public RunnerFixture()
    {
        RunnerImage = $"feather-test-runner:{InstanceId}";
        ModelId = $"hostile-{InstanceId}";
    }

    public static string ModelsDir([CallerFilePath] string file = "") => Path.Combine(Path.GetDirectoryName(file)!, "models");

    public async Task InitializeAsync()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Runner:InstanceId"] = InstanceId,
            ["Runner:BaseImage"] = RunnerImage,
            // weights built into images: this fixture's blob store is in memory, so it has no files to mount
            // (mounted weights: VersionWeightsTests and the end-to-end tests)
            ["Runner:Weights"] = "image",
            ["Runner:MaxOutputBytes"] = (1024 * 1024).ToString(),
            ["Runner:MaxLogBytes"] = (64 * 1024).ToString(),
            ["Runner:Profiles:Low:MemoryMiB"] = "128",
            ["Runner:Profiles:Low:PidsLimit"] = "64",
            ["Runner:Profiles:Low:TmpfsMiB"] = "16",
            ["Runner:Profiles:Low:TimeoutSeconds"] = "20",
            // medium is the "short timeout" profile of these tests
            ["Runner:Profiles:Medium:MemoryMiB"] = "128",
            ["Runner:Profiles:Medium:Cpus"] = "1",
            ["Runner:Profiles:Medium:TimeoutSeconds"] = "3",
        }).Build();
        var services = new ServiceCollection()
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton<IBlobStore>(Blobs)
            .AddRunner(config);
        Services = services.BuildServiceProvider();
        await Services.GetRequiredService<RunnerCapabilities>().RefreshAsync(default);

        await BuildTestRunnerAsync();
        FirstBuild = await BuildVersionAsync(1);
        Assert.True(FirstBuild.Outcome == ImageBuildOutcome.Ready, FirstBuild.Log);
        VersionImage = FirstBuild.VersionImage;
    }

    public EnvironmentSpec Environment(params string[] systemPackages) =>
        new(RunnerImage, "low", "3.11", systemPackages, []);

    /// <summary>Builds a version of the test model (all files of models/ except the runtime) through the image builder.</summary>
    public async Task<ImageBuildResult> BuildVersionAsync(int number, EnvironmentSpec? env = null, IProgress<string>? log = null)
    {
        var files = Directory.GetFiles(ModelsDir(), "*.py")
            .Where(f => Path.GetFileName(f) != "runtime.py")
            .Select(f =>
            {
                var bytes = File.ReadAllBytes(f);
                return new VersionFile(Path.GetFileName(f), Blobs.Put(bytes), bytes.Length);
            })
            .ToList();
        var result = await Services.GetRequiredService<IImageBuilder>()
            .BuildAsync(new VersionImageRequest(ModelId, number, env ?? Environment(), files), log, default);
        Track(result.EnvironmentImage);
        Track(result.VersionImage);
        return result;
    }

    public void Track(string image)
    {
        if (!string.IsNullOrEmpty(image)) lock (_images) if (!_images.Contains(image)) _images.Add(image);
    }

    private async Task BuildTestRunnerAsync()
    {
        var dockerfile = """
            FROM feather-base:bookworm
            COPY model/ /opt/feather/feather/
            USER root
            RUN mkdir -p /model /scratch && chown 10001:10001 /scratch
            ENV PYTHONPATH=/opt/feather PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
            WORKDIR /model
            USER 10001:10001
            LABEL org.feather.runtime.prepare="1"
            ENTRYPOINT ["python3", "-m", "feather.runtime"]
            """;
        var files = new Dictionary<string, byte[]>
        {
            ["__init__.py"] = [],
            ["runtime.py"] = File.ReadAllBytes(Path.Combine(ModelsDir(), "runtime.py")),
        };
        using var context = new MemoryStream();
        await BuildContext.WriteVersionContextAsync(context, dockerfile, files.Keys,
            (p, _) => Task.FromResult<Stream>(new MemoryStream(files[p])), default);
        context.Position = 0;
        string? error = null;
        await Docker.Images.BuildImageFromDockerfileAsync(
            new ImageBuildParameters { Tags = [RunnerImage], Labels = new Dictionary<string, string> { ["org.feather.test"] = InstanceId }, Remove = true, ForceRemove = true },
            context, null, null, new Progress<JSONMessage>(m => error ??= m.Error?.Message), default);
        Track(RunnerImage);
        var image = await Docker.Images.InspectImageAsync(RunnerImage, default);
        Assert.True(image is not null, error);
    }

    /// <summary>
    /// Step containers of this test server (label org.feather.owner = its instance id), in any state,
    /// not counting the warm pool's never-started containers (see <see cref="WarmContainersAsync"/>).
    /// </summary>
    public async Task<int> CountContainersAsync()
    {
        await Services.GetRequiredService<DockerStepExecutor>().IdleAsync(); // finished steps' containers are removed in the background
        return (await OwnContainersAsync()).Count(c => c.Labels?.ContainsKey(WarmContainerPool.WarmLabel) != true);
    }

    /// <summary>The warm pool's containers of this test server.</summary>
    public async Task<List<ContainerListResponse>> WarmContainersAsync() =>
        (await OwnContainersAsync()).Where(c => c.Labels?.ContainsKey(WarmContainerPool.WarmLabel) == true).ToList();

    private async Task<IList<ContainerListResponse>> OwnContainersAsync() =>
        await Docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { ["org.feather.managed=true"] = true, [$"org.feather.owner={InstanceId}"] = true },
            },
        }, default);

    public async Task DisposeAsync()
    {
        var docker = Docker;
        foreach (var c in await docker.Containers.ListContainersAsync(new ContainersListParameters
                 {
                     All = true,
                     Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"org.feather.owner={InstanceId}"] = true } },
                 }, default))
            await docker.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true }, default);
        // newest first: version images depend on environment images, which depend on the runner
        for (var i = _images.Count - 1; i >= 0; i--)
        {
            try
            {
                await docker.Images.DeleteImageAsync(_images[i], new ImageDeleteParameters { Force = true }, default);
            }
            catch (DockerImageNotFoundException)
            {
            }
        }
        await Services.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class DockerCollection : ICollectionFixture<RunnerFixture>
{
    public const string Name = "docker";
}

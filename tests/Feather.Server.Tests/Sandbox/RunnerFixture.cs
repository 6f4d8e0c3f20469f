using System.Collections.Concurrent;
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

    public static string ModelsDir() => TestRunnerImages.ModelsDir();

    public async Task InitializeAsync()
    {
        var settings = TestRunnerImages.RunnerSettings(InstanceId, RunnerImage);
        settings["Runner:Profiles:Medium:Cpus"] = "1";
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
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
        var files = TestRunnerImages.ModelFiles(Blobs);
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
        Track(RunnerImage);
        await TestRunnerImages.BuildRunnerAsync(Docker, RunnerImage, InstanceId);
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
        List<string> images;
        lock (_images) images = [.. _images];
        await TestRunnerImages.RemoveImagesAsync(docker, images);
        await Services.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class DockerCollection : ICollectionFixture<RunnerFixture>
{
    public const string Name = "docker";
}

using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Blobs;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Sandbox.Swarm;
using Feather.Tests.Swarm;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ImageBuildResult = Feather.Server.Environments.ImageBuildResult;

namespace Feather.Server.Tests.Sandbox.Swarm;

/// <summary>
/// The runner wired as the server wires it with Runner:Mode = swarm, on a one-node swarm of this machine's engine with a
/// lab registry (<see cref="SwarmLab"/>): the test runtime image, and a version of the sandbox test models built and
/// pushed through the swarm image builder; the settings, runner image and models are <see cref="RunnerFixture"/>'s
/// (<see cref="TestRunnerImages"/>). The end removes what it made, and leaves the swarm if it joined it.
/// </summary>
public sealed class SwarmRunnerFixture : IAsyncLifetime
{
    public string InstanceId { get; } = "swarmtest-" + Guid.NewGuid().ToString("n")[..8];
    public string RunnerImage => $"feather-test-runner:{InstanceId}";
    public string ModelId => $"swarm-{InstanceId}";
    public SwarmLab Lab { get; private set; } = null!;
    public ServiceProvider Services { get; private set; } = null!;
    public MemoryBlobStore Blobs { get; } = new();
    public string VersionImage { get; private set; } = "";
    public ImageBuildResult Build { get; private set; } = null!;
    public DockerClient Docker => Services.GetRequiredService<DockerEngine>().Client;
    private readonly List<string> _images = [];

    public async Task InitializeAsync()
    {
        Lab = await SwarmLab.StartAsync();
        try
        {
            var settings = TestRunnerImages.RunnerSettings(InstanceId, RunnerImage);
            foreach (var (key, value) in new Dictionary<string, string>
                     {
                         ["Runner:Mode"] = "swarm",
                         ["Runner:Swarm:Registry"] = Lab.Registry + "/feather",
                         ["Runner:Swarm:RegistryUsername"] = SwarmLab.User,
                         ["Runner:Swarm:RegistryPassword"] = Lab.Password,
                         ["Runner:Swarm:GpuNodeLabel"] = "feather.gpu-" + InstanceId,
                         // a swarm step reserves its CPUs on its node (ReserveResources): half a CPU each
                         ["Runner:Profiles:Low:Cpus"] = "0.5",
                         ["Runner:Profiles:Medium:Cpus"] = "0.5",
                         ["Runner:Profiles:High:MemoryMiB"] = "128",
                         ["Runner:Profiles:High:Cpus"] = "0.5",
                     })
                settings[key] = value;
            var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
            Services = new ServiceCollection()
                .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton<IBlobStore>(Blobs)
                .AddRunner(config)
                .BuildServiceProvider();
            await Services.GetRequiredService<RunnerCapabilities>().RefreshAsync(default);
            await BuildTestRunnerAsync();
            Build = await BuildVersionAsync(1);
            Assert.True(Build.Outcome == ImageBuildOutcome.Ready, Build.Log);
            VersionImage = Build.VersionImage;
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task<ImageBuildResult> BuildVersionAsync(int number)
    {
        var files = TestRunnerImages.ModelFiles(Blobs);
        var result = await Services.GetRequiredService<IImageBuilder>()
            .BuildAsync(new VersionImageRequest(ModelId, number, new EnvironmentSpec(RunnerImage, "low", "3.11", [], []), files), null, default);
        Track(result.EnvironmentImage);
        Track(result.VersionImage);
        return result;
    }

    private void Track(string image)
    {
        if (!string.IsNullOrEmpty(image) && !_images.Contains(image)) _images.Add(image);
    }

    private async Task BuildTestRunnerAsync()
    {
        Track(RunnerImage);
        await TestRunnerImages.BuildRunnerAsync(Docker, RunnerImage, InstanceId);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (Services is not null)
            {
                await Services.GetRequiredService<SwarmStepExecutor>().IdleAsync();
                await Services.GetRequiredService<SwarmImageWarmer>().IdleAsync();
                await SwarmLab.RemoveOwnedAsync(InstanceId);
                await TestRunnerImages.RemoveImagesAsync(Docker, _images);
                await Services.DisposeAsync();
            }
        }
        finally
        {
            if (Lab is not null) await Lab.DisposeAsync();
        }
    }
}

/// <summary>
/// The swarm tests: one collection, so they never run in parallel with each other, and run alone
/// (DisableParallelization): joining and leaving the swarm makes the engine rework its networks, which broke the
/// bridge network and published port of a test running at that moment (ComposeTests lost its server).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SwarmCollection : ICollectionFixture<SwarmRunnerFixture>
{
    public const string Name = "swarm";
}

using System.Runtime.CompilerServices;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Unit;

/// <summary>The runner talks to its engine only through <see cref="IContainerEngine"/>, so it runs against any engine.</summary>
public class ContainerEngineSeamTests
{
    private static string ServerDir([CallerFilePath] string file = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", "..", "..", "Feather.Server"));

    /// <summary>Code, not comments: the seam's documentation may name the library.</summary>
    [Fact]
    public void Only_the_engine_and_swarm_seams_know_Docker_DotNet()
    {
        var users = Directory.EnumerateFiles(ServerDir(), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadLines(f).Any(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal)
                                                     && line.Contains("Docker.DotNet", StringComparison.Ordinal)))
            .Select(f => Path.GetRelativePath(ServerDir(), f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();
        // the local engine's seam, and the swarm mode's (its client and service spec; its executor reads the log
        // stream type of the swarm client's follow)
        Assert.Equal(["Sandbox/DockerEngine.cs", "Sandbox/SandboxSpec.cs",
            "Sandbox/Swarm/SwarmClient.cs", "Sandbox/Swarm/SwarmServiceSpec.cs", "Sandbox/Swarm/SwarmStepExecutor.cs"], users);
    }

    [Fact]
    public async Task The_reaper_removes_this_servers_untracked_leftovers_through_the_seam()
    {
        var engine = new FakeEngine
        {
            Containers =
            [
                new EngineContainer("id-1", "feather-step-left", "img", "exited"),
                new EngineContainer("id-2", "feather-step-running", "img", "running"),
                new EngineContainer("id-3", "feather-step-gone", "img", "exited"),
            ],
            Missing = { "id-3" },
        };
        var tracker = new ContainerTracker();
        tracker.Add("feather-step-running");
        var options = Options.Create(new RunnerOptions { InstanceId = "lab-1" });
        var reaper = new ContainerReaper(engine, tracker, new RunnerCapabilities(engine, options, NullLogger<RunnerCapabilities>.Instance),
            options, NullLogger<ContainerReaper>.Instance);

        Assert.Equal(1, await reaper.ReapOnceAsync(default));
        Assert.Equal(["id-1", "id-3"], engine.Removed);
        Assert.Equal(new Dictionary<string, string> { ["org.feather.managed"] = "true", ["org.feather.owner"] = "lab-1" }, engine.LastFilter);
    }

    [Fact]
    public async Task The_capabilities_come_from_the_engines_runtimes()
    {
        var engine = new FakeEngine { Runtimes = ["runc", "nvidia"] };
        var capabilities = new RunnerCapabilities(engine, Options.Create(new RunnerOptions()), NullLogger<RunnerCapabilities>.Instance);
        await capabilities.RefreshAsync(default);
        Assert.True(capabilities.SupportsGpu);
        Assert.Null(capabilities.CheckProfile("high"));
    }

    [Fact]
    public async Task Without_the_servers_database_the_image_policy_removes_nothing()
    {
        var engine = new FakeEngine();
        var janitor = new ImageJanitor(engine, new NoImageKeepList(), Options.Create(new RunnerOptions()),
            Options.Create(new ImageRetentionOptions()), NullLogger<ImageJanitor>.Instance);
        Assert.Empty(await janitor.RunOnceAsync(DateTime.UtcNow.AddYears(1), default));
        Assert.Equal(0, engine.Calls);
    }

    /// <summary>An engine in memory: records what the runner asked of it.</summary>
    private sealed class FakeEngine : IContainerEngine
    {
        public List<EngineContainer> Containers { get; init; } = [];
        public HashSet<string> Missing { get; } = [];
        public List<string> Removed { get; } = [];
        public IReadOnlyList<string> Runtimes { get; init; } = ["runc"];
        public IReadOnlyDictionary<string, string>? LastFilter { get; private set; }
        public int Calls { get; private set; }

        public Uri Endpoint { get; } = new("tcp://fake:2375");

        public Task<EngineInfo> GetInfoAsync(CancellationToken ct)
        {
            Calls++;
            return Task.FromResult(new EngineInfo("fake-1", Runtimes));
        }

        public Task<IReadOnlyList<EngineContainer>> ListContainersAsync(IReadOnlyDictionary<string, string>? labels, CancellationToken ct)
        {
            Calls++;
            LastFilter = labels;
            return Task.FromResult<IReadOnlyList<EngineContainer>>(Containers);
        }

        public Task RemoveContainerAsync(string id, CancellationToken ct)
        {
            Calls++;
            Removed.Add(id);
            return Missing.Contains(id) ? throw new ContainerNotFoundException($"no container {id}", null) : Task.CompletedTask;
        }

        public Task<IReadOnlyList<EngineImage>> ListImagesAsync(string label, string value, CancellationToken ct)
        {
            Calls++;
            return Task.FromResult<IReadOnlyList<EngineImage>>([]);
        }

        public Task<string> CreateContainerAsync(SandboxSpec spec, CancellationToken ct) => throw new NotSupportedException();
        public Task<IContainerStream> AttachAsync(string id, CancellationToken ct) => throw new NotSupportedException();
        public Task StartContainerAsync(string id, CancellationToken ct) => throw new NotSupportedException();
        public Task<long> WaitContainerAsync(string id, CancellationToken ct) => throw new NotSupportedException();
        public Task<bool> WasOomKilledAsync(string id, CancellationToken ct) => throw new NotSupportedException();
        public Task KillContainerAsync(string id, CancellationToken ct) => throw new NotSupportedException();
        public Task PutArchiveAsync(string id, string path, Stream tar, CancellationToken ct) => throw new NotSupportedException();
        public Task<Stream> GetArchiveAsync(string id, string path, CancellationToken ct) => throw new NotSupportedException();
        public Task<string?> FindImageAsync(string image, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyDictionary<string, string>?> ImageLabelsAsync(string image, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyList<EngineMount>?> ContainerMountsAsync(string idOrName, CancellationToken ct) => throw new NotSupportedException();
        public Task RemoveImageAsync(string tagOrId, CancellationToken ct) => throw new NotSupportedException();
        public Task BuildImageAsync(ImageBuildSpec spec, Stream context, IProgress<ImageBuildMessage> progress, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task<EngineImageConfig?> ImageConfigAsync(string image, CancellationToken ct) => throw new NotSupportedException();
        public Task LoadImagesAsync(Stream archive, CancellationToken ct) => throw new NotSupportedException();
    }
}

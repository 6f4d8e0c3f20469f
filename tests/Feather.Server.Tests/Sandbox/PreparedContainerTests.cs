using System.Collections.Concurrent;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

/// <summary>
/// Prepared containers against the real engine: a failed preparation is reported once and stops the pool, the
/// preparation counts against memory and not the step's timeout, and prepared containers are released when idle,
/// when their image is retired, when the pool stops, and by the reaper after a crash. Each test has its own pool
/// (and, where it matters, its own instance id), so nothing it makes is left to the other tests.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class PreparedContainerTests(RunnerFixture fx)
{
    private sealed class Reports : IPreparationReports
    {
        public ConcurrentQueue<(string Image, string Entrypoint, PreparationFailure? Failure)> Seen { get; } = new();
        public void Report(string image, string entrypoint, PreparationFailure? failure) => Seen.Enqueue((image, entrypoint, failure));
    }

    private RunnerOptions Options(string? instance = null, int warm = 1, int idleSeconds = 600) => new()
    {
        InstanceId = instance ?? fx.InstanceId, WarmContainers = warm, WarmContainerIdleSeconds = idleSeconds, PreparationRetrySeconds = 3600,
        Profiles = new ProfileSet
        {
            Low = new ProfileLimits { MemoryMiB = 128, Cpus = 1, PidsLimit = 64, TmpfsMiB = 16, TimeoutSeconds = 20 },
            Medium = new ProfileLimits { MemoryMiB = 128, Cpus = 1, PidsLimit = 64, TmpfsMiB = 16, TimeoutSeconds = 3 },
        },
    };

    private (WarmContainerPool Pool, DockerStepExecutor Executor) Runner(RunnerOptions options, IPreparationReports? reports = null,
        ContainerTracker? tracker = null)
    {
        tracker ??= fx.Services.GetRequiredService<ContainerTracker>();
        var engine = fx.Services.GetRequiredService<IContainerEngine>();
        var pool = new WarmContainerPool(engine, tracker, Microsoft.Extensions.Options.Options.Create(options),
            NullLogger<WarmContainerPool>.Instance, reports);
        var executor = new DockerStepExecutor(engine, Microsoft.Extensions.Options.Options.Create(options),
            fx.Services.GetRequiredService<RunnerCapabilities>(), tracker, pool, NullLogger<DockerStepExecutor>.Instance);
        return (pool, executor);
    }

    private StepExecutionRequest Request(string entrypoint, string profile = "low", string? image = null) =>
        new(image ?? fx.VersionImage, profile,
            JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses = new { }, previous = (object?)null }),
            new Dictionary<string, string>(), Entrypoint: entrypoint);

    private async Task<List<ContainerListResponse>> ContainersAsync(string instance) =>
        [.. await fx.Docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"org.feather.owner={instance}"] = true },
            },
        }, default)];

    private async Task<int> PreparedCountAsync(string instance) =>
        (await ContainersAsync(instance)).Count(c => c.Labels.TryGetValue(WarmContainerPool.WarmLabel, out var w) && w == "prepared");

    [Fact]
    public async Task A_failed_preparation_is_reported_once_fails_each_step_with_the_error_and_stops_preparing_ahead()
    {
        var reports = new Reports();
        var (pool, executor) = Runner(Options(warm: 2), reports);
        await using (pool)
        {
            for (var i = 0; i < 3; i++)
            {
                var r = await executor.ExecuteAsync(Request("prepfail.py"), default);
                Assert.Equal(StepOutcome.Failed, r.Outcome);
                Assert.Equal("PreparationError: the model's preparation failed: FileNotFoundError: weights.bin is missing", r.Message);
                await pool.IdleAsync();
                await executor.IdleAsync();
            }
            // One report for the version although three steps and a pool container failed the same way.
            var report = Assert.Single(reports.Seen);
            Assert.Equal((fx.VersionImage, "prepfail.py"), (report.Image, report.Entrypoint));
            Assert.Equal("PreparationError: the model's preparation failed: FileNotFoundError: weights.bin is missing", report.Failure!.Message);
            Assert.Contains("weights.bin is missing", report.Failure.ErrorJson);
            Assert.NotNull(pool.FailureOf(fx.VersionImage, "low", "prepfail.py"));
            // After the failure the pool made no container ahead for it: none ready, none left.
            Assert.False(pool.Ready.TryGetValue((fx.VersionImage, "low", "prepfail.py"), out var ready) && ready > 0);
            Assert.Equal(0, await PreparedCountAsync(fx.InstanceId));
        }
    }

    [Fact]
    public async Task The_preparation_counts_against_memory_and_not_against_the_steps_timeout()
    {
        var reports = new Reports();
        var (pool, executor) = Runner(Options(), reports);
        await using (pool)
        {
            // The medium test profile allows 3 s per step; the model prepares for 5 s, then answers at once.
            var cold = await executor.ExecuteAsync(Request("prepslow.py", "medium"), default);
            Assert.True(cold.Outcome == StepOutcome.Succeeded, cold.Message);
            Assert.True(cold.Duration < TimeSpan.FromSeconds(3), $"the step's time {cold.Duration} counted the preparation");
            await pool.IdleAsync(); // one ready: prepared ahead, 5 s again
            var warm = await executor.ExecuteAsync(Request("prepslow.py", "medium"), default);
            Assert.True(warm.Outcome == StepOutcome.Succeeded, warm.Message);
            Assert.StartsWith("feather-warm-", warm.Container);
            Assert.Contains(reports.Seen, r => r.Entrypoint == "prepslow.py" && r.Failure is null);

            // Memory: a preparation past the 128 MiB limit is killed as out of memory, reported on the version.
            var oom = await executor.ExecuteAsync(Request("prepoom.py"), default);
            Assert.Equal(StepOutcome.OutOfMemory, oom.Outcome);
            Assert.Equal("PreparationError: killed: out of memory while the model prepared (limit 128 MiB)", oom.Message);
            await pool.IdleAsync();
            Assert.Single(reports.Seen, r => r.Entrypoint == "prepoom.py");
            await executor.IdleAsync();
            await pool.ReleaseImageAsync(fx.VersionImage);
            Assert.Equal(0, await PreparedCountAsync(fx.InstanceId));
        }
    }

    [Fact]
    public async Task A_version_image_built_on_a_runner_without_preparation_runs_its_steps_as_before()
    {
        // An older runtime reads its request at once and never says it is prepared; its image lacks the label.
        var old = $"feather-test-oldruntime:{fx.InstanceId}";
        var dockerfile = $"""
            FROM {fx.VersionImage}
            LABEL {DockerStepExecutor.PrepareLabel}=""
            ENTRYPOINT ["env", "-u", "FEATHER_ENTRYPOINT", "python3", "-m", "feather.runtime"]
            """;
        using (var context = new MemoryStream())
        {
            await BuildContext.WriteVersionContextAsync(context, dockerfile, [], (_, _) => Task.FromResult<Stream>(new MemoryStream()), default);
            context.Position = 0;
            await fx.Docker.Images.BuildImageFromDockerfileAsync(
                new ImageBuildParameters { Tags = [old], Labels = new Dictionary<string, string> { ["org.feather.test"] = fx.InstanceId }, Remove = true, ForceRemove = true },
                context, null, null, new Progress<JSONMessage>(), default);
        }
        fx.Track(old);

        var options = Options(warm: 1);
        options.PreparationTimeoutSeconds = 15; // were it waited for, the step would fail after this
        var reports = new Reports();
        var (pool, executor) = Runner(options, reports);
        await using (pool)
        {
            for (var i = 0; i < 2; i++)
            {
                var r = await executor.ExecuteAsync(Request("prepared.py", image: old), default);
                Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message);
                await pool.IdleAsync();
            }
            Assert.Empty(reports.Seen);
            Assert.Equal(0, await PreparedCountAsync(fx.InstanceId));
            await executor.IdleAsync();
            await pool.ReleaseImageAsync(old);
        }
    }

    [Fact]
    public async Task An_unused_version_loses_its_prepared_containers_after_the_idle_time_and_a_stop_removes_the_rest()
    {
        var instance = fx.InstanceId + "-idle";
        var (pool, _) = Runner(Options(instance, idleSeconds: 2));
        await pool.StartAsync(default); // its expiry timer
        try
        {
            Assert.Null(pool.Take(fx.VersionImage, "low", new ProfileSet().Low, "prepared.py"));
            await pool.IdleAsync();
            Assert.Equal(1, await PreparedCountAsync(instance));
            // Nobody takes it: the pool's own timer removes it once the idle time has passed.
            for (var i = 0; i < 120 && await PreparedCountAsync(instance) > 0; i++) await Task.Delay(250);
            Assert.Equal(0, await PreparedCountAsync(instance));
            Assert.Empty(pool.Ready);

            Assert.Null(pool.Take(fx.VersionImage, "low", new ProfileSet().Low, "prepared.py"));
            await pool.IdleAsync();
            Assert.Equal(1, await PreparedCountAsync(instance));
        }
        finally
        {
            await pool.StopAsync(default); // the server stops
        }
        Assert.Empty(await ContainersAsync(instance));
    }

    [Fact]
    public async Task The_reaper_of_the_next_process_removes_prepared_containers_left_by_a_crash()
    {
        var instance = fx.InstanceId + "-crash";
        var crashed = new ContainerTracker(); // the process that crashed
        var (pool, _) = Runner(Options(instance, warm: 2), tracker: crashed);
        var limits = new ProfileSet().Low;
        pool.Take(fx.VersionImage, "low", limits, "prepared.py");
        pool.Take(fx.VersionImage, "low", limits, "prepared.py");
        await pool.IdleAsync();
        Assert.Equal(2, await PreparedCountAsync(instance)); // running, prepared, never told to stop

        var engine = fx.Services.GetRequiredService<IContainerEngine>();
        var options = Microsoft.Extensions.Options.Options.Create(new RunnerOptions { InstanceId = instance });
        var reaper = new ContainerReaper(engine, new ContainerTracker(), // the next process knows none of them
            new RunnerCapabilities(engine, options, NullLogger<RunnerCapabilities>.Instance), options, NullLogger<ContainerReaper>.Instance);
        Assert.Equal(2, await reaper.ReapOnceAsync(default));
        Assert.Empty(await ContainersAsync(instance));
        await pool.DisposeAsync(); // what it still thought it held is gone: nothing to do, no error
    }

    [Fact]
    public async Task The_image_retention_policy_releases_the_prepared_containers_of_an_image_it_retires()
    {
        var id = fx.InstanceId;
        var owner = "prepared-" + id;
        var tag = $"feather-test-retention:{id}-prepared";
        // A version image of its own (the test models and runtime, from the fixture's version image) owned by this test's server.
        var dockerfile = $"FROM {fx.VersionImage}\n" + string.Join("", new Dictionary<string, string>
        {
            ["org.feather.managed"] = "true", ["org.feather.owner"] = owner, ["org.feather.image"] = "version",
            ["org.feather.env-hash"] = "prepared-" + id, ["org.feather.test"] = id,
        }.Select(l => $"LABEL {l.Key}=\"{l.Value}\"\n"));
        using (var context = new MemoryStream())
        {
            await BuildContext.WriteDockerfileOnlyAsync(context, dockerfile, default);
            context.Position = 0;
            await fx.Docker.Images.BuildImageFromDockerfileAsync(new ImageBuildParameters { Tags = [tag], Remove = true },
                context, null, null, new Progress<JSONMessage>(), default);
        }
        fx.Track(tag);
        var (pool, _) = Runner(Options(owner));
        await using (pool)
        {
            pool.Take(tag, "low", new ProfileSet().Low, "prepared.py");
            await pool.IdleAsync();
            Assert.Equal(1, await PreparedCountAsync(owner));

            var janitor = new ImageJanitor(fx.Services.GetRequiredService<IContainerEngine>(), new KeepNothing(),
                Microsoft.Extensions.Options.Options.Create(new RunnerOptions { InstanceId = owner }),
                Microsoft.Extensions.Options.Options.Create(new ImageRetentionOptions { KeepDays = 7 }),
                NullLogger<ImageJanitor>.Instance, pool);
            var removed = await janitor.RunOnceAsync(DateTime.UtcNow.AddDays(1), default);
            Assert.Equal(tag, Assert.Single(removed).Tags.Single());
            Assert.Equal(0, await PreparedCountAsync(owner)); // released first, so the container did not keep its image
            await Assert.ThrowsAsync<DockerImageNotFoundException>(() => fx.Docker.Images.InspectImageAsync(tag, default));
        }
    }

    private sealed class KeepNothing : IImageKeepList
    {
        public IReadOnlySet<string> VersionImagesToKeep(DateTime since) => new HashSet<string>();
        public void ImageRemoved(string versionImage, string reason)
        {
        }
    }
}

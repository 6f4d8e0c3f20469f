using System.Text.Json;
using Docker.DotNet;
using Feather.Server.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

/// <summary>Containers created ahead of demand, against the real engine: used once each, never reused, removed at the end.</summary>
[Collection(DockerCollection.Name)]
public sealed class WarmContainerPoolTests(RunnerFixture fx)
{
    private Task<StepExecutionResult> Echo(string name, string profile = "low") =>
        fx.Services.GetRequiredService<IStepExecutor>().ExecuteAsync(new StepExecutionRequest(fx.VersionImage, profile,
            JsonSerializer.Serialize(new { protocol = 1, entrypoint = "echo.py", step = 0, responses = new { name }, previous = (object?)null }),
            new Dictionary<string, string>()), default);

    private WarmContainerPool NewPool(int warm, int budgetMiB = 8192) =>
        new(fx.Services.GetRequiredService<IContainerEngine>(), fx.Services.GetRequiredService<ContainerTracker>(),
            Options.Create(new RunnerOptions
            {
                InstanceId = fx.InstanceId, WarmContainers = warm, WarmContainerIdleSeconds = 60, PreparedMemoryBudgetMiB = budgetMiB,
            }),
            NullLogger<WarmContainerPool>.Instance);

    private Task<StepExecutionResult> Prepared(string entrypoint) =>
        fx.Services.GetRequiredService<IStepExecutor>().ExecuteAsync(new StepExecutionRequest(fx.VersionImage, "low",
            JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses = new { }, previous = (object?)null }),
            new Dictionary<string, string>(), Entrypoint: entrypoint), default);

    [Fact]
    public async Task A_prepared_container_has_run_its_preparation_before_the_request_and_serves_one_step()
    {
        var pool = fx.Services.GetRequiredService<WarmContainerPool>();
        var stepsBefore = await fx.CountContainersAsync();
        Assert.Equal(StepOutcome.Succeeded, (await Prepared("prepared.py")).Outcome); // a miss: prepares in its own container
        var used = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            await pool.IdleAsync();
            var ready = Assert.Single(await fx.WarmContainersAsync(), c => c.Labels[WarmContainerPool.WarmLabel] == "prepared");
            Assert.Equal("running", ready.State); // started: the model imported and prepared, blocked on stdin
            await Task.Delay(2500); // its preparation (1 s) is over well before the request
            var sent = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
            var r = await Prepared("prepared.py");
            Assert.Equal(StepOutcome.Succeeded, r.Outcome);
            Assert.Equal(ready.Names.Single().TrimStart('/'), r.Container);
            var times = r.Result!.Value.GetProperty("outputs")[0].GetProperty("value");
            Assert.True(times[0].GetDouble() < sent, $"prepared at {times[0]}, request sent at {sent}");
            Assert.True(times[1].GetDouble() >= sent - 0.05);
            Assert.True(r.Duration < TimeSpan.FromSeconds(1), $"a prepared step took {r.Duration}"); // no second preparation
            await fx.Services.GetRequiredService<DockerStepExecutor>().IdleAsync();
            await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => fx.Docker.Containers.InspectContainerAsync(ready.ID, default));
            used.Add(r.Container!);
        }
        Assert.Equal(2, used.Distinct().Count());
        Assert.Equal(stepsBefore, await fx.CountContainersAsync());
        await pool.IdleAsync();
        await pool.ReleaseImageAsync(fx.VersionImage);
    }

    [Fact]
    public async Task A_failed_preparation_is_the_message_of_each_step_that_needs_the_model()
    {
        var pool = fx.Services.GetRequiredService<WarmContainerPool>();
        await Prepared("prepfail.py");
        await pool.IdleAsync();
        var r = await Prepared("prepfail.py");
        Assert.Equal(StepOutcome.Failed, r.Outcome);
        Assert.Contains("PreparationError", r.Message);
        Assert.Contains("weights.bin is missing", r.Message);
        await pool.IdleAsync();
        await pool.ReleaseImageAsync(fx.VersionImage); // leaves no prepared container to the other tests
        Assert.DoesNotContain(await fx.WarmContainersAsync(), c => c.Labels[WarmContainerPool.WarmLabel] == "prepared");
    }

    [Fact]
    public async Task Prepared_containers_stay_within_the_memory_budget_and_are_released_with_their_image()
    {
        var warmBefore = (await fx.WarmContainersAsync()).Count;
        var limits = new ProfileSet().Low;
        await using var pool = NewPool(3, budgetMiB: limits.MemoryMiB * 2);
        for (var i = 0; i < 3; i++) Assert.Null(pool.Take(fx.VersionImage, "low", limits, "prepared.py")); // demand of 3
        await pool.IdleAsync();
        Assert.Equal(2, pool.Ready[(fx.VersionImage, "low", "prepared.py")]); // the budget holds two
        Assert.Equal(warmBefore + 2, (await fx.WarmContainersAsync()).Count);
        Assert.Equal(2, await pool.ReleaseImageAsync(fx.VersionImage));
        Assert.Empty(pool.Ready);
        Assert.Equal(warmBefore, (await fx.WarmContainersAsync()).Count);
    }

    [Fact]
    public async Task A_step_runs_in_a_container_created_ahead_of_it_and_no_container_runs_twice()
    {
        var pool = fx.Services.GetRequiredService<WarmContainerPool>();
        Assert.Equal(StepOutcome.Succeeded, (await Echo("warm-up")).Outcome); // marks the image as recently used
        var stepsBefore = await fx.CountContainersAsync();

        var used = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await pool.IdleAsync();
            var warm = (await fx.WarmContainersAsync()).Where(c => c.Image == fx.VersionImage && c.Labels["org.feather.profile"] == "low"
                && c.Labels[WarmContainerPool.WarmLabel] == "true").ToList();
            var ready = Assert.Single(warm);
            Assert.Equal("created", ready.State); // created, never started
            var name = ready.Names.Single().TrimStart('/');

            var r = await Echo($"step {i}");
            Assert.Equal(StepOutcome.Succeeded, r.Outcome);
            Assert.Equal($"Hello, step {i}", r.Result!.Value.GetProperty("outputs")[0].GetProperty("value").GetString());
            Assert.Equal(name, r.Container); // the step took the pre-created container ...
            await fx.Services.GetRequiredService<DockerStepExecutor>().IdleAsync();
            await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => fx.Docker.Containers.InspectContainerAsync(ready.ID, default));
            used.Add(r.Container!); // ... and it is gone after the step
        }
        Assert.Equal(3, used.Distinct().Count());
        await pool.IdleAsync();
        Assert.Equal(stepsBefore, await fx.CountContainersAsync());
        Assert.Equal(1, pool.Ready[(fx.VersionImage, "low", "")]);
    }

    private async Task RemoveTakenAsync(WarmContainerPool.WarmContainer? taken)
    {
        if (taken is null) return;
        await fx.Docker.Containers.RemoveContainerAsync(taken.Value.Id, new() { Force = true }, default);
        fx.Services.GetRequiredService<ContainerTracker>().Remove(taken.Value.Name);
    }

    [Fact]
    public async Task The_pool_keeps_its_size_per_image_and_profile_and_is_emptied_when_it_stops()
    {
        var warmBefore = (await fx.WarmContainersAsync()).Count;
        var pool = NewPool(2);
        var limits = new ProfileSet().Medium;
        Assert.Null(pool.Take(fx.VersionImage, "medium", limits)); // first use: nothing ready yet
        await pool.IdleAsync();
        Assert.Equal(1, pool.Ready[(fx.VersionImage, "medium", "")]); // one step in the last minute: one kept ready
        await RemoveTakenAsync(pool.Take(fx.VersionImage, "medium", limits));
        await RemoveTakenAsync(pool.Take(fx.VersionImage, "medium", limits)); // three steps: up to the most (2)
        await pool.IdleAsync();
        Assert.Equal(2, pool.Ready[(fx.VersionImage, "medium", "")]);
        Assert.Equal(warmBefore + 2, (await fx.WarmContainersAsync()).Count);

        var taken = pool.Take(fx.VersionImage, "medium", limits);
        Assert.NotNull(taken);
        await pool.IdleAsync(); // refilled to 2 in the background
        Assert.Equal(2, pool.Ready[(fx.VersionImage, "medium", "")]);
        await fx.Docker.Containers.RemoveContainerAsync(taken.Value.Id, new() { Force = true }, default); // as a step would
        fx.Services.GetRequiredService<ContainerTracker>().Remove(taken.Value.Name);

        await pool.StopAsync(default);
        Assert.Equal(warmBefore, (await fx.WarmContainersAsync()).Count);
        Assert.Null(pool.Take(fx.VersionImage, "medium", limits)); // a stopped pool creates nothing
        await pool.IdleAsync();
        Assert.Equal(warmBefore, (await fx.WarmContainersAsync()).Count);
    }

    [Fact]
    public async Task Pairs_not_used_for_the_idle_time_lose_their_containers()
    {
        var warmBefore = (await fx.WarmContainersAsync()).Count;
        await using var pool = NewPool(1);
        pool.Take(fx.VersionImage, "medium", new ProfileSet().Medium);
        await pool.IdleAsync();
        Assert.Equal(0, await pool.ExpireAsync(DateTime.UtcNow)); // just used
        Assert.Equal(warmBefore + 1, (await fx.WarmContainersAsync()).Count);
        Assert.Equal(1, await pool.ExpireAsync(DateTime.UtcNow.AddSeconds(61)));
        Assert.Empty(pool.Ready);
        Assert.Equal(warmBefore, (await fx.WarmContainersAsync()).Count);
    }

    [Fact]
    public async Task Zero_warm_containers_turns_the_pool_off()
    {
        var warmBefore = (await fx.WarmContainersAsync()).Count;
        await using var pool = NewPool(0);
        Assert.Null(pool.Take(fx.VersionImage, "low", new ProfileSet().Low));
        await pool.IdleAsync();
        Assert.Empty(pool.Ready);
        Assert.Equal(warmBefore, (await fx.WarmContainersAsync()).Count);
    }
}

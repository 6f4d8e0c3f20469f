using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Sandbox;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Sandbox;

/// <summary>Steps of hostile models in real containers; every test checks that no container is left behind.</summary>
[Collection(DockerCollection.Name)]
public sealed class DockerStepExecutorTests(RunnerFixture fx) : IAsyncLifetime
{
    private int _before;

    public async Task InitializeAsync() => _before = await fx.CountContainersAsync();

    public async Task DisposeAsync() => Assert.Equal(_before, await fx.CountContainersAsync());

    private Task<StepExecutionResult> Run(string entrypoint, object responses, string profile = "low", CancellationToken ct = default)
    {
        var request = JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses, previous = (object?)null });
        return fx.Services.GetRequiredService<IStepExecutor>().ExecuteAsync(
            new StepExecutionRequest(fx.VersionImage, profile, request, new Dictionary<string, string> { ["org.feather.run"] = "test-run" }), ct);
    }

    [Fact]
    public async Task A_step_that_succeeds_returns_its_result_line_and_its_log()
    {
        var r = await Run("echo.py", new { name = "Ada" });
        Assert.Equal(StepOutcome.Succeeded, r.Outcome);
        var output = r.Result!.Value.GetProperty("outputs")[0];
        Assert.Equal("Hello, Ada", output.GetProperty("value").GetString());
        Assert.Contains("greeting Ada", r.Logs);
        Assert.True(r.Duration > TimeSpan.Zero);
    }

    [Theory]
    [InlineData("1.1.1.1", 80)]        // a public address
    [InlineData("172.17.0.1", 8080)]   // the server's host on the default bridge
    public async Task A_model_cannot_open_a_tcp_connection(string host, int port)
    {
        var r = await Run("net.py", new { host, port });
        Assert.Equal(StepOutcome.Failed, r.Outcome);
        Assert.Contains("Network is unreachable", r.Message);
    }

    [Fact]
    public async Task A_memory_hog_is_killed_with_a_message_naming_the_limit()
    {
        var r = await Run("memhog.py", new { });
        Assert.Equal(StepOutcome.OutOfMemory, r.Outcome);
        Assert.Equal("killed: out of memory (limit 128 MiB)", r.Message);
    }

    [Fact]
    public async Task An_endless_loop_times_out()
    {
        var r = await Run("loop.py", new { }, profile: "medium");
        Assert.Equal(StepOutcome.TimedOut, r.Outcome);
        Assert.Equal("timed out after 3 s", r.Message);
        Assert.True(r.Duration.TotalSeconds >= 2.5, $"stopped after {r.Duration.TotalSeconds:F1} s, before its 3 s timeout");
    }

    [Fact]
    public async Task A_fork_bomb_is_stopped_by_the_pids_limit()
    {
        var r = await Run("forkbomb.py", new { });
        Assert.Equal(StepOutcome.Failed, r.Outcome);
        Assert.Contains("BlockingIOError", r.Message);
        Assert.Contains("Resource temporarily unavailable", r.Message);
    }

    [Fact]
    public async Task Printing_hundreds_of_megabytes_is_cut_off_at_the_output_cap()
    {
        var r = await Run("flood.py", new { });
        Assert.Equal(StepOutcome.Crashed, r.Outcome);
        Assert.Equal("killed: output exceeded the cap of 1 MiB", r.Message);
        Assert.Null(r.Result);
    }

    [Fact]
    public async Task Only_tmp_is_writable()
    {
        var r = await Run("writes.py", new { });
        Assert.Equal(StepOutcome.Succeeded, r.Outcome);
        var writes = r.Result!.Value.GetProperty("outputs")[0].GetProperty("value");
        Assert.Equal("written", writes.GetProperty("/tmp/ok.txt").GetString());
        // /scratch belongs to the sandbox user: only the read-only root stops the write
        Assert.Equal("Read-only file system", writes.GetProperty("/scratch/x.txt").GetString());
        Assert.NotEqual("written", writes.GetProperty("/model/x.txt").GetString());
        Assert.NotEqual("written", writes.GetProperty("/etc/x.txt").GetString());
    }

    [Fact]
    public async Task The_server_environment_does_not_reach_the_step()
    {
        Environment.SetEnvironmentVariable("FEATHER_TEST_SECRET", "s3cret");
        var r = await Run("environ.py", new { });
        Assert.Equal(StepOutcome.Succeeded, r.Outcome);
        var env = r.Result!.Value.GetProperty("outputs")[0].GetProperty("value");
        Assert.False(env.TryGetProperty("FEATHER_TEST_SECRET", out _));
        Assert.DoesNotContain("s3cret", env.GetRawText());
    }

    [Fact]
    public async Task A_running_step_can_be_cancelled()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var r = await Run("loop.py", new { }, ct: cts.Token);
        Assert.Equal(StepOutcome.Cancelled, r.Outcome);
    }

    [Fact]
    public async Task A_missing_image_is_a_clear_crash()
    {
        var request = new StepExecutionRequest("feather-version:does-not-exist-1", "low", "{}", new Dictionary<string, string>());
        var r = await fx.Services.GetRequiredService<IStepExecutor>().ExecuteAsync(request, default);
        Assert.Equal(StepOutcome.Crashed, r.Outcome);
        Assert.Contains("feather-version:does-not-exist-1", r.Message);
    }

    [Fact]
    public async Task High_is_refused_when_the_engine_has_no_gpu_runtime()
    {
        var info = await fx.Docker.System.GetSystemInfoAsync(default);
        var caps = fx.Services.GetRequiredService<RunnerCapabilities>();
        Assert.Equal(RunnerCapabilities.HasGpuRuntime(info.Runtimes.Keys), caps.SupportsGpu);
        Assert.False(caps.SupportsGpu, "this test expects an engine without a GPU runtime");
        var r = await Run("echo.py", new { name = "x" }, profile: "high");
        Assert.Equal(StepOutcome.Crashed, r.Outcome);
        Assert.Contains("profile 'high' needs a GPU", r.Message);
        Assert.Equal(TimeSpan.Zero, r.Duration);
    }

    [Fact]
    public async Task An_unknown_profile_is_refused()
    {
        var r = await Run("echo.py", new { name = "x" }, profile: "huge");
        Assert.Equal(StepOutcome.Crashed, r.Outcome);
        Assert.Equal("unknown profile 'huge' (allowed: low, medium, high)", r.Message);
    }

    [Fact]
    public async Task The_reaper_removes_leftovers_of_this_server_only()
    {
        async Task<string> Leftover(string owner)
        {
            var c = await fx.Docker.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Image = fx.VersionImage,
                Name = "feather-step-leftover-" + Guid.NewGuid().ToString("n")[..8],
                Entrypoint = ["sleep", "60"],
                Labels = new Dictionary<string, string> { ["org.feather.managed"] = "true", ["org.feather.owner"] = owner, ["org.feather.test-other"] = fx.InstanceId },
                HostConfig = new HostConfig { NetworkMode = "none" },
            }, default);
            await fx.Docker.Containers.StartContainerAsync(c.ID, new ContainerStartParameters(), default);
            return c.ID;
        }
        var mine = await Leftover(fx.InstanceId);
        var other = await Leftover("other-" + fx.InstanceId);
        try
        {
            Assert.Equal(_before + 1, await fx.CountContainersAsync());
            var removed = await fx.Services.GetRequiredService<ContainerReaper>().ReapOnceAsync(default);
            Assert.Equal(1, removed);
            await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => fx.Docker.Containers.InspectContainerAsync(mine, default));
            var survivor = await fx.Docker.Containers.InspectContainerAsync(other, default);
            Assert.True(survivor.State!.Running);
        }
        finally
        {
            await fx.Docker.Containers.RemoveContainerAsync(other, new ContainerRemoveParameters { Force = true }, default);
        }
    }

    [Fact]
    public async Task The_reaper_leaves_running_steps_alone()
    {
        var step = Run("loop.py", new { }, profile: "medium");
        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (await fx.CountContainersAsync() == _before && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(0, await fx.Services.GetRequiredService<ContainerReaper>().ReapOnceAsync(default));
        var r = await step;
        Assert.Equal(StepOutcome.TimedOut, r.Outcome);
    }
}

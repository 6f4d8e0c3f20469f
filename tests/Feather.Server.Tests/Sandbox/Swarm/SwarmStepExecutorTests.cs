using System.Text.Json;
using Feather.Server.Sandbox;
using Feather.Server.Sandbox.Swarm;
using Feather.Tests.Swarm;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Sandbox.Swarm;

/// <summary>
/// Steps of the sandbox's hostile test models as swarm jobs on a one-node swarm, contained as in local mode
/// (<see cref="DockerStepExecutorTests"/>); every test checks that no service, secret, network or container of the
/// runner is left behind.
/// </summary>
[Collection(SwarmCollection.Name)]
public sealed class SwarmStepExecutorTests(SwarmRunnerFixture fx) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await fx.Services.GetRequiredService<SwarmStepExecutor>().IdleAsync();
        Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId));
    }

    private Task<StepExecutionResult> Run(string entrypoint, object responses, string profile = "low", CancellationToken ct = default,
        IProgress<string>? log = null, Func<Task>? started = null)
    {
        var request = JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses, previous = (object?)null });
        return fx.Services.GetRequiredService<IStepExecutor>().ExecuteAsync(
            new StepExecutionRequest(fx.VersionImage, profile, request, new Dictionary<string, string> { ["org.feather.run"] = "test-run" },
                Log: log, Started: started), ct);
    }

    [Fact]
    public void Swarm_mode_registers_the_swarm_executor()
    {
        Assert.IsType<SwarmStepExecutor>(fx.Services.GetRequiredService<IStepExecutor>());
        Assert.IsType<SwarmImageBuilder>(fx.Services.GetRequiredService<Feather.Server.Environments.IImageBuilder>());
    }

    [Fact]
    public async Task The_build_pushed_the_images_to_the_registry_by_digest()
    {
        Assert.Contains($"pushed {fx.Build.VersionImage} to the registry as {fx.Lab.Registry}/feather/feather-version@sha256:", fx.Build.Log);
        Assert.Contains($"pushed {fx.Build.EnvironmentImage} to the registry as {fx.Lab.Registry}/feather/feather-env@sha256:", fx.Build.Log);
        // the registry holds them (with its credentials); the engine keeps no extra tag
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{SwarmLab.User}:{fx.Lab.Password}")));
        var tags = await http.GetStringAsync($"http://{fx.Lab.Registry}/v2/feather/feather-version/tags/list");
        Assert.Contains(fx.VersionImage.Split(':')[1], tags);
        using var anonymous = new HttpClient();
        using var refused = await anonymous.GetAsync($"http://{fx.Lab.Registry}/v2/feather/feather-version/tags/list");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
        var local = await SwarmLab.Docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", $"reference={fx.Lab.Registry}/*/*");
        Assert.DoesNotContain(":" + fx.VersionImage.Split(':')[1], local.Stdout);
    }

    [Fact]
    public async Task The_nodes_pull_a_version_ahead_and_the_pre_pull_leaves_nothing()
    {
        var warmer = fx.Services.GetRequiredService<SwarmImageWarmer>();
        await warmer.IdleAsync(); // the fixture's build started one
        var image = (await fx.Services.GetRequiredService<SwarmImagePublisher>().PublishAsync(fx.VersionImage, default)).Reference;
        Assert.Equal((1, 0), await warmer.PrePullAsync(image, "low", new ProfileSet().Find("low")!));
        Assert.Equal(0, (await SwarmLab.Docker("image", "inspect", image)).ExitCode);
        // an image the registry does not have: the node says it could not pull it
        var missing = $"{fx.Lab.Registry}/feather/feather-version@sha256:{new string('0', 64)}";
        Assert.Equal((0, 1), await warmer.PrePullAsync(missing, "low", new ProfileSet().Find("low")!));
    }

    [Fact]
    public async Task A_step_that_succeeds_returns_its_result_line_and_its_log_live_and_stored()
    {
        var live = new List<string>();
        var started = 0;
        var executor = fx.Services.GetRequiredService<SwarmStepExecutor>();
        var running = 0;
        var succeeded = RunnerMetrics.Steps.WithLabels(nameof(StepOutcome.Succeeded)).Value;
        var r = await Run("echo.py", new { name = "Ada" }, log: new SyncLog(live), started: () =>
        {
            started++;
            running = executor.Running; // the step holds a slot of the fair queue while it runs
            return Task.CompletedTask;
        });
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        Assert.True(running >= 1);
        Assert.True(RunnerMetrics.Steps.WithLabels(nameof(StepOutcome.Succeeded)).Value >= succeeded + 1);
        Assert.Equal("Hello, Ada", r.Result!.Value.GetProperty("outputs")[0].GetProperty("value").GetString());
        Assert.Contains("greeting Ada", r.Logs);
        Assert.Equal(1, started);
        Assert.StartsWith("feather-step-", r.Container);
    }

    [Fact]
    public async Task A_log_flood_is_cut_at_the_log_cap_and_the_result_still_comes_back()
    {
        // 32 MiB of log against the 64 KiB cap: the follow drops stderr at the cap and goes on with stdout alone
        var live = new List<string>();
        var r = await Run("logflood.py", new { mib = 32 }, log: new SyncLog(live));
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs[..Math.Min(2000, r.Logs.Length)]);
        Assert.Equal("logged 32 MiB", r.Result!.Value.GetProperty("outputs")[0].GetProperty("value").GetString());
        Assert.Contains("[log truncated: at least ", r.Logs);
        Assert.True(r.Logs.Length < 70 * 1024, $"stored log of {r.Logs.Length} chars");
        Assert.Equal("[log truncated at the 64 KiB cap]", live[^1]);
    }

    [Fact]
    public async Task A_request_larger_than_one_secret_reaches_the_step_whole()
    {
        var name = string.Concat(Enumerable.Range(0, 120_000).Select(i => (char)('a' + i % 26))); // > 2 chunks with the JSON around it
        var r = await Run("echo.py", new { name }, log: null);
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        Assert.Equal("Hello, " + name, r.Result!.Value.GetProperty("outputs")[0].GetProperty("value").GetString());
    }

    [Theory]
    [InlineData("1.1.1.1", 80)]        // a public address
    [InlineData("172.17.0.1", 8080)]   // the server's host on the default bridge
    [InlineData("127.0.0.1", 2377)]    // the swarm's own port
    public async Task A_model_cannot_open_a_tcp_connection(string host, int port)
    {
        var r = await Run("net.py", new { host, port });
        Assert.Equal(StepOutcome.Failed, r.Outcome);
        Assert.True(r.Message.Contains("Network is unreachable") || r.Message.Contains("Connection refused"), r.Message);
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
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        var writes = r.Result!.Value.GetProperty("outputs")[0].GetProperty("value");
        Assert.Equal("written", writes.GetProperty("/tmp/ok.txt").GetString());
        Assert.Equal("Read-only file system", writes.GetProperty("/scratch/x.txt").GetString());
        Assert.NotEqual("written", writes.GetProperty("/model/x.txt").GetString());
        Assert.NotEqual("written", writes.GetProperty("/etc/x.txt").GetString());
    }

    [Fact]
    public async Task The_server_environment_does_not_reach_the_step()
    {
        Environment.SetEnvironmentVariable("FEATHER_TEST_SECRET", "s3cret");
        var r = await Run("environ.py", new { });
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        var env = r.Result!.Value.GetProperty("outputs")[0].GetProperty("value");
        Assert.False(env.TryGetProperty("FEATHER_TEST_SECRET", out _));
        Assert.DoesNotContain("s3cret", env.GetRawText());
        Assert.DoesNotContain(fx.Lab.Password, env.GetRawText());
    }

    [Fact]
    public async Task A_running_step_can_be_cancelled_and_its_job_goes()
    {
        using var cts = new CancellationTokenSource();
        var r = await Run("loop.py", new { }, ct: cts.Token, started: () => { cts.CancelAfter(TimeSpan.FromSeconds(1)); return Task.CompletedTask; });
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
    public async Task High_goes_only_to_a_node_with_the_gpu_label_and_is_refused_without_one()
    {
        var caps = fx.Services.GetRequiredService<RunnerCapabilities>();
        await caps.RefreshAsync(default);
        Assert.False(caps.SupportsGpu);
        var refused = await Run("echo.py", new { name = "x" }, profile: "high");
        Assert.Equal(StepOutcome.Crashed, refused.Outcome);
        Assert.Contains("profile 'high' needs a GPU, but no ready node of the swarm offers one", refused.Message);
        Assert.Equal(TimeSpan.Zero, refused.Duration);

        // the node gets the (test's own) GPU label: high is placed there
        var node = (await SwarmLab.Docker("info", "--format", "{{.Swarm.NodeID}}")).Stdout.Trim();
        var label = $"feather.gpu-{fx.InstanceId}";
        Assert.Equal(0, (await SwarmLab.Docker("node", "update", "--label-add", $"{label}=true", node)).ExitCode);
        try
        {
            var r = await Run("echo.py", new { name = "gpu" }, profile: "high");
            Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        }
        finally
        {
            await SwarmLab.Docker("node", "update", "--label-rm", label, node);
            await caps.RefreshAsync(default);
        }
    }

    [Fact]
    public async Task An_unknown_profile_is_refused()
    {
        var r = await Run("echo.py", new { name = "x" }, profile: "huge");
        Assert.Equal(StepOutcome.Crashed, r.Outcome);
        Assert.Equal("unknown profile 'huge' (allowed: low, medium, high)", r.Message);
    }

    [Fact]
    public async Task The_reaper_removes_leftover_jobs_of_this_server_only()
    {
        async Task Leftover(string owner, string name)
        {
            var labels = $"org.feather.managed=true";
            var created = await SwarmLab.Docker("service", "create", "--detach", "--name", name, "--replicas", "1", "--restart-condition", "none",
                "--label", labels, "--label", $"org.feather.owner={owner}", "--label", $"org.feather.swarm-step={name}",
                "--container-label", $"org.feather.owner={owner}", "feather-base:bookworm", "sleep", "60");
            Assert.True(created.ExitCode == 0, created.Stderr);
            var secret = await SwarmLab.Docker("secret", "create", "--label", labels, "--label", $"org.feather.owner={owner}", name + "-000", "/etc/hostname");
            Assert.True(secret.ExitCode == 0, secret.Stderr);
        }
        var other = "other-" + fx.InstanceId;
        await Leftover(fx.InstanceId, "feather-step-leftover-" + fx.InstanceId);
        await Leftover(other, "feather-step-other-" + fx.InstanceId);
        try
        {
            var reaper = fx.Services.GetRequiredService<SwarmReaper>();
            var removed = await reaper.ReapOnceAsync(default);
            Assert.True(removed >= 2, $"removed {removed}"); // the service and its secret
            Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId));
            Assert.Contains("feather-step-other-" + fx.InstanceId, (await SwarmLab.Docker("service", "ls", "--format", "{{.Name}}")).Stdout);
        }
        finally
        {
            await SwarmLab.RemoveOwnedAsync(other);
        }
    }

    [Fact]
    public async Task The_reaper_leaves_running_steps_alone()
    {
        var step = Run("loop.py", new { }, profile: "medium");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await SwarmLab.LeftoversAsync(fx.InstanceId)).All(l => !l.StartsWith("service", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(0, await fx.Services.GetRequiredService<SwarmReaper>().ReapOnceAsync(default));
        var r = await step;
        Assert.Equal(StepOutcome.TimedOut, r.Outcome);
    }

    private sealed class SyncLog(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines) lines.Add(value);
        }
    }
}

using System.Text.Json;
using Feather.Server.Sandbox;
using Feather.Server.Sandbox.Swarm;
using Feather.Tests.Swarm;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox.Swarm;

/// <summary>
/// Steps as replicated jobs (Runner:Swarm:ServiceMode = replicated-job) on this machine's engine, whatever its version:
/// a step's output, log and exit code come back; cancel, timeout and the reaper stop a running job's task on Docker
/// 20.10 too (the job's iteration is ended before it is removed) and leave nothing. What 20.10 does keep is the task
/// and exited container of a job that finished by itself (moby/moby#44312), the task keeping its resource reservation:
/// the tests check the container, reserve nothing (the leftover tasks would fill the node for the tests after them),
/// and that is why <c>auto</c> does not use jobs before 24.0 (docs/deploy.md).
/// </summary>
[Collection(SwarmCollection.Name)]
public sealed class SwarmJobModeTests(SwarmRunnerFixture fx) : IAsyncLifetime
{
    private SwarmStepExecutor _jobs = null!;
    private SwarmClient _client = null!;

    public Task InitializeAsync()
    {
        var s = fx.Services.GetRequiredService<IOptions<SwarmOptions>>().Value;
        var options = Options.Create(new SwarmOptions
        {
            Registry = s.Registry,
            RegistryUsername = s.RegistryUsername,
            RegistryPassword = s.RegistryPassword,
            GpuNodeLabel = s.GpuNodeLabel,
            GpuResource = s.GpuResource,
            PrePull = s.PrePull,
            StartTimeoutSeconds = s.StartTimeoutSeconds,
            // on 20.10 a finished job's task stays in the swarm with its reservation until the lab leaves the swarm
            // (docs/deploy.md): reserving would fill the one node for the swarm tests that run after these
            ReserveResources = false,
            PollMilliseconds = s.PollMilliseconds,
            ServiceMode = "replicated-job",
        });
        _client = new SwarmClient(fx.Services.GetRequiredService<DockerEngine>(), options);
        _jobs = new SwarmStepExecutor(_client, fx.Services.GetRequiredService<SwarmImagePublisher>(),
            fx.Services.GetRequiredService<IOptions<RunnerOptions>>(), options, fx.Services.GetRequiredService<RunnerCapabilities>(),
            fx.Services.GetRequiredService<ContainerTracker>(), NullLogger<SwarmStepExecutor>.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _jobs.DisposeAsync();
        Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId));
    }

    private Task<StepExecutionResult> Run(string entrypoint, object responses, string profile = "low", CancellationToken ct = default,
        IProgress<string>? log = null, Func<Task>? started = null)
    {
        var request = JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses, previous = (object?)null });
        return _jobs.ExecuteAsync(new StepExecutionRequest(fx.VersionImage, profile, request,
            new Dictionary<string, string> { ["org.feather.run"] = "job-run" }, Log: log, Started: started), ct);
    }

    /// <summary>The mode of the one step service of this fixture now running (read when the step has started).</summary>
    private async Task<string> RunningServiceModeAsync()
    {
        var services = (await SwarmLab.Docker("service", "ls", "-q", "--filter", $"label=org.feather.owner={fx.InstanceId}",
            "--filter", "label=org.feather.swarm-step")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(services);
        return (await SwarmLab.Docker("service", "inspect", services[0], "--format", "{{json .Spec.Mode}}")).Stdout.Trim();
    }

    /// <summary>
    /// After a job that ended by itself: its service, secrets and network are gone; on an engine before 24.0 its exited
    /// container is still on the node (the swarm keeps the removed job's task), from 24.0 it is gone too. The test
    /// removes that container, as an operator would (docs/deploy.md).
    /// </summary>
    private async Task AssertOnlyTheFinishedContainerIsLeftAsync(string step)
    {
        await _jobs.IdleAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string[] left;
        while ((left = (await SwarmLab.LeftoversAsync(fx.InstanceId)).Where(l => !l.StartsWith("container ", StringComparison.Ordinal)).ToArray()).Length > 0
               && DateTime.UtcNow < deadline)
            await Task.Delay(250);
        Assert.Empty(left);
        var containers = (await SwarmLab.Docker("ps", "-a", "--filter", $"label=org.feather.swarm-step={step}", "--format", "{{.State}}"))
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (await _client.EngineMajorAsync(default) < SwarmClient.JobsCleanUpFromMajor)
            Assert.Equal(["exited"], containers);
        else
            Assert.Empty(containers);
        foreach (var id in (await SwarmLab.Docker("ps", "-aq", "--filter", $"label=org.feather.swarm-step={step}")).Stdout
                     .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            await SwarmLab.Docker("rm", "-f", id);
    }

    [Fact]
    public async Task A_step_runs_as_a_replicated_job_and_returns_its_result_log_and_exit_code()
    {
        var live = new List<string>();
        var mode = "";
        var r = await Run("echo.py", new { name = "Job" }, log: new SyncLog(live),
            started: async () => mode = await RunningServiceModeAsync());
        Assert.True(r.Outcome == StepOutcome.Succeeded, r.Message + "\n" + r.Logs);
        Assert.Contains("\"ReplicatedJob\":{\"MaxConcurrent\":1,\"TotalCompletions\":1}", mode);
        Assert.Equal("Hello, Job", r.Result!.Value.GetProperty("outputs")[0].GetProperty("value").GetString());
        Assert.Contains("greeting Job", r.Logs);
        lock (live) Assert.Contains(live, l => l.Contains("greeting Job", StringComparison.Ordinal)); // live, as it came
        await AssertOnlyTheFinishedContainerIsLeftAsync(r.Container!);
    }

    [Fact]
    public async Task A_failing_step_as_a_job_fails_with_its_error()
    {
        var r = await Run("net.py", new { host = "1.1.1.1", port = 80 });
        Assert.Equal(StepOutcome.Failed, r.Outcome);
        Assert.Contains("Network is unreachable", r.Message);
        await AssertOnlyTheFinishedContainerIsLeftAsync(r.Container!);
    }

    [Fact]
    public async Task A_job_killed_for_its_memory_reports_its_exit_code_as_out_of_memory()
    {
        var r = await Run("memhog.py", new { });
        Assert.Equal(StepOutcome.OutOfMemory, r.Outcome);
        Assert.Equal("killed: out of memory (limit 128 MiB)", r.Message);
        await AssertOnlyTheFinishedContainerIsLeftAsync(r.Container!);
    }

    [Fact]
    public async Task A_running_job_is_cancelled_and_its_task_container_secrets_and_network_go()
    {
        using var cts = new CancellationTokenSource();
        var mode = "";
        var r = await Run("loop.py", new { }, ct: cts.Token, started: async () =>
        {
            mode = await RunningServiceModeAsync();
            cts.CancelAfter(TimeSpan.FromSeconds(1));
        });
        Assert.Equal(StepOutcome.Cancelled, r.Outcome);
        Assert.Contains("ReplicatedJob", mode);
        await _jobs.IdleAsync();
        Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId)); // the running container too, on 20.10 as well
    }

    [Fact]
    public async Task A_job_that_runs_past_its_timeout_is_stopped_and_leaves_nothing()
    {
        var r = await Run("loop.py", new { }, profile: "medium");
        Assert.Equal(StepOutcome.TimedOut, r.Outcome);
        Assert.Equal("timed out after 3 s", r.Message);
        await _jobs.IdleAsync();
        Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId));
    }

    [Fact]
    public async Task The_reaper_stops_a_leftover_running_job_on_this_engine()
    {
        var name = "feather-step-leftover-job-" + fx.InstanceId;
        var created = await SwarmLab.Docker("service", "create", "--detach", "--name", name, "--mode", "replicated-job",
            "--label", "org.feather.managed=true", "--label", $"org.feather.owner={fx.InstanceId}", "--label", $"org.feather.swarm-step={name}",
            "--container-label", $"org.feather.owner={fx.InstanceId}", "--stop-signal", "SIGKILL", "feather-base:bookworm", "sleep", "300");
        Assert.True(created.ExitCode == 0, created.Stderr);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await SwarmLab.Docker("ps", "-q", "--filter", $"label=org.feather.owner={fx.InstanceId}")).Stdout.Trim().Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the leftover job did not start");
            await Task.Delay(200);
        }
        Assert.True(await fx.Services.GetRequiredService<SwarmReaper>().ReapOnceAsync(default) >= 1);
        Assert.Empty(await SwarmLab.LeftoversAfterAsync(fx.InstanceId)); // its running container is stopped and removed
    }

    [Fact]
    public async Task Auto_uses_jobs_from_24_and_forcing_them_on_an_older_engine_logs_a_warning()
    {
        var docker = fx.Services.GetRequiredService<DockerEngine>();
        var major = await _client.EngineMajorAsync(default);
        Assert.True(major > 0);
        var auto = new SwarmClient(docker, Options.Create(new SwarmOptions { ServiceMode = "auto" }));
        Assert.Equal(major >= SwarmClient.JobsCleanUpFromMajor, await auto.UseJobsAsync(default));
        var warnings = new ListLogger();
        var forced = new SwarmClient(docker, Options.Create(new SwarmOptions { ServiceMode = "replicated-job" }), warnings);
        Assert.True(await forced.UseJobsAsync(default));
        Assert.True(await forced.UseJobsAsync(default));
        if (major < SwarmClient.JobsCleanUpFromMajor)
            Assert.Equal([$"Warning: Runner:Swarm:ServiceMode is replicated-job, but the swarm manager's engine is version {major}: before 24.0 every "
                          + "finished job leaves its task in the swarm (holding its resource reservation) and its exited container on its node "
                          + "(docs/deploy.md, \"Replicated jobs and Docker 20.10\")"], warnings.Lines); // once
        else
            Assert.Empty(warnings.Lines);
        var replicated = new SwarmClient(docker, Options.Create(new SwarmOptions { ServiceMode = "replicated" }), warnings);
        Assert.False(await replicated.UseJobsAsync(default));
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger<SwarmClient>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add($"{logLevel}: {formatter(state, exception)}");
        }
    }

    private sealed class SyncLog(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines) lines.Add(value);
        }
    }
}

using System.Text.Json;
using Feather.Server.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

/// <summary>The executor's queue and live log with real containers.</summary>
[Collection(DockerCollection.Name)]
public sealed class ExecutorQueueTests(RunnerFixture fx) : IAsyncLifetime
{
    private int _before;

    public async Task InitializeAsync() => _before = await fx.CountContainersAsync();

    public async Task DisposeAsync() => Assert.Equal(_before, await fx.CountContainersAsync());

    private StepExecutionRequest Request(string entrypoint, object responses, string profile, string user, IProgress<string>? log = null) =>
        new(fx.VersionImage, profile,
            JsonSerializer.Serialize(new { protocol = 1, entrypoint, step = 0, responses, previous = (object?)null }),
            new Dictionary<string, string>(), user, log);

    [Fact]
    public async Task A_queued_step_can_be_cancelled_while_another_runs()
    {
        var options = new RunnerOptions { InstanceId = fx.InstanceId, MaxConcurrentSteps = 1, MaxQueuedSteps = 1, WarmContainers = 0 };
        options.Profiles.Medium = new ProfileLimits { MemoryMiB = 128, Cpus = 1, PidsLimit = 64, TmpfsMiB = 16, TimeoutSeconds = 60 };
        var executor = new DockerStepExecutor(fx.Services.GetRequiredService<IContainerEngine>(), Options.Create(options),
            fx.Services.GetRequiredService<RunnerCapabilities>(), fx.Services.GetRequiredService<ContainerTracker>(),
            fx.Services.GetRequiredService<WarmContainerPool>(), NullLogger<DockerStepExecutor>.Instance);
        using var stopRunning = new CancellationTokenSource();
        using var stopQueued = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var queuedStarted = false;
        var running = executor.ExecuteAsync(Request("loop.py", new { }, "medium", "ada") with
        {
            Started = () => { started.TrySetResult(); return Task.CompletedTask; },
        }, stopRunning.Token);
        var queued = executor.ExecuteAsync(Request("echo.py", new { name = "x" }, "medium", "bob") with
        {
            Started = () => { queuedStarted = true; return Task.CompletedTask; },
        }, stopQueued.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the running step reported its start
        for (var i = 0; i < 200 && executor.QueueLength == 0; i++) await Task.Delay(50);
        Assert.Equal(1, executor.QueueLength);
        Assert.Equal(1, executor.Running);
        // The queue holds one step: a third is refused, at submission (Refusal) and by the queue itself.
        Assert.Equal("the step queue is full (1 step waiting, the limit of Runner:MaxQueuedSteps); try again later", executor.Refusal?.Message);
        var third = await executor.ExecuteAsync(Request("echo.py", new { name = "y" }, "medium", "carol"), default).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(StepOutcome.Crashed, third.Outcome);
        Assert.Equal(executor.Refusal?.Message, third.Message);

        stopQueued.Cancel();
        var q = await queued.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StepOutcome.Cancelled, q.Outcome);
        Assert.Equal("cancelled while queued", q.Message);
        Assert.Null(q.Container); // it never had one
        Assert.False(queuedStarted); // and never reported a start: its run showed it queued throughout
        Assert.Equal(0, executor.QueueLength);
        Assert.False(running.IsCompleted);

        stopRunning.Cancel();
        var r = await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(StepOutcome.Cancelled, r.Outcome);
        Assert.Equal(0, executor.Running);
        await executor.IdleAsync(); // its container is removed in the background
    }

    [Fact]
    public async Task Stderr_lines_reach_the_live_log_as_well_as_the_result()
    {
        var lines = new List<string>();
        var r = await fx.Services.GetRequiredService<IStepExecutor>()
            .ExecuteAsync(Request("echo.py", new { name = "Live" }, "low", "ada", new SyncLog(lines)), default);
        Assert.Equal(StepOutcome.Succeeded, r.Outcome);
        Assert.Contains("greeting Live", lines);
        Assert.Contains("greeting Live", r.Logs);
    }

    private sealed class SyncLog(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines) lines.Add(value);
        }
    }
}

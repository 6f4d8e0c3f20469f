using Feather.Contracts;
using Feather.Server.Runs;
using Microsoft.Extensions.Hosting;

namespace Feather.Server.Tests.Unit;

/// <summary>The in-memory fan-out of step changes, without a server.</summary>
public sealed class StepEventsUnitTests
{
    private sealed class Lifetime : IHostApplicationLifetime, IDisposable
    {
        public CancellationTokenSource Stopping { get; } = new();
        public CancellationToken ApplicationStarted => CancellationToken.None;
        public CancellationToken ApplicationStopping => Stopping.Token;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() => Stopping.Cancel();
        public void Dispose() => Stopping.Dispose();
    }

    private static RunStepRecord Step(int index, string status, string logs = "") => new() { Index = index, Name = "s", Status = status, Logs = logs };

    [Fact]
    public async Task Subscribers_of_a_step_get_its_changes_in_order_and_a_slow_one_keeps_the_latest()
    {
        using var lifetime = new Lifetime();
        var events = new StepEvents(lifetime);
        using var fast = events.Subscribe("r", 0, Step(0, StepStatus.AwaitingInput).ToView());
        using var other = events.Subscribe("r", 1, Step(1, StepStatus.Pending).ToView());
        Assert.Equal(StepStatus.AwaitingInput, fast.Current.Status);

        events.Publish("r", Step(0, StepStatus.Queued));
        events.Publish("r", Step(0, StepStatus.Running));
        Assert.Equal(StepStatus.Queued, (await fast.Changes.ReadAsync()).Status);
        Assert.Equal(StepStatus.Running, (await fast.Changes.ReadAsync()).Status);
        Assert.False(other.Changes.TryRead(out _)); // another step's subscriber hears nothing

        // A reader that falls behind keeps the latest states; each carries the whole log.
        for (var i = 1; i <= StepEvents.Capacity + 5; i++)
            events.Publish("r", Step(0, StepStatus.Running, new string('x', i)));
        var kept = new List<int>();
        while (fast.Changes.TryRead(out var state)) kept.Add(state.Logs.Length);
        Assert.Equal(Enumerable.Range(6, StepEvents.Capacity), kept);
        Assert.Equal(2, events.Count);

        fast.Dispose();
        Assert.Equal(1, events.Count);
        Assert.False(await fast.Changes.WaitToReadAsync()); // its channel is closed

        lifetime.StopApplication(); // the server stops: every stream ends
        Assert.False(await other.Changes.WaitToReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }
}

using System.Threading.Channels;

namespace Feather.Server.Runs;

/// <summary>
/// Fans the changes of steps out to the server-sent event streams following them, in memory:
/// <see cref="RunService"/> publishes each stored change of a step (status, live log, result) and every
/// subscriber of that step gets the step as it is now, in the order of the changes. A subscriber's
/// channel keeps the latest <see cref="Capacity"/> states: one that reads too slowly skips older states
/// (each state carries the whole log, so nothing of the log or the result is lost).
/// </summary>
public sealed class StepEvents
{
    public const int Capacity = 16;

    /// <param name="lifetime">When the server stops, every stream ends (steps that wait for input would keep theirs open).</param>
    public StepEvents(IHostApplicationLifetime lifetime) => lifetime.ApplicationStopping.Register(CompleteAll);

    private readonly object _gate = new();
    private readonly Dictionary<(string Run, int Step), List<Channel<StepView>>> _subscribers = new();

    /// <summary>Subscribes to step <paramref name="index"/> of a run; <paramref name="current"/> is its state at this moment.</summary>
    /// <remarks>Call it where no change of the step can be published at the same time (under the run's lock), so nothing is missed.</remarks>
    public StepSubscription Subscribe(string runId, int index, StepView current)
    {
        var channel = Channel.CreateBounded<StepView>(new BoundedChannelOptions(Capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false,
        });
        lock (_gate)
        {
            if (!_subscribers.TryGetValue((runId, index), out var list))
                _subscribers[(runId, index)] = list = [];
            list.Add(channel);
        }
        return new StepSubscription(current, channel.Reader, () => Unsubscribe(runId, index, channel));
    }

    /// <summary>Hands the step's new state to its subscribers (nothing to do when there are none).</summary>
    public void Publish(string runId, RunStepRecord step)
    {
        Channel<StepView>[] targets;
        lock (_gate)
        {
            if (!_subscribers.TryGetValue((runId, step.Index), out var list)) return;
            targets = [.. list];
        }
        var view = step.ToView();
        foreach (var channel in targets) channel.Writer.TryWrite(view);
    }

    /// <summary>Ends every subscription (the server is stopping).</summary>
    private void CompleteAll()
    {
        lock (_gate)
            foreach (var channel in _subscribers.Values.SelectMany(l => l))
                channel.Writer.TryComplete();
    }

    /// <summary>Subscriptions open now (all steps).</summary>
    public int Count
    {
        get { lock (_gate) return _subscribers.Values.Sum(l => l.Count); }
    }

    private void Unsubscribe(string runId, int index, Channel<StepView> channel)
    {
        lock (_gate)
        {
            if (!_subscribers.TryGetValue((runId, index), out var list)) return;
            list.Remove(channel);
            if (list.Count == 0) _subscribers.Remove((runId, index));
        }
        channel.Writer.TryComplete();
    }
}

/// <summary>A step's state when the subscription began, then its changes; dispose to stop following.</summary>
public sealed class StepSubscription(StepView current, ChannelReader<StepView> changes, Action unsubscribe) : IDisposable
{
    private int _disposed;

    public StepView Current { get; } = current;

    public ChannelReader<StepView> Changes { get; } = changes;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) unsubscribe();
    }
}

namespace Feather.Server.Sandbox;

/// <summary>
/// Admission to the sandbox: at most <c>limit</c> steps hold a slot at once; the others wait in one
/// FIFO queue per user, and a freed slot goes to the users' queues in turn (round-robin), so a user who
/// submits many steps cannot starve the others. A waiter whose token is cancelled leaves its queue.
/// At most <c>maxQueued</c> steps wait: beyond that a step is refused (<see cref="StepQueueFullException"/>).
/// </summary>
public sealed class FairStepQueue
{
    /// <summary>The queue of steps submitted without a user (anonymous runs share it).</summary>
    public const string AnonymousUser = "(anonymous)";

    private readonly object _gate = new();
    private readonly int _limit;
    private readonly int _maxQueued;
    private readonly Action<int>? _queueLengthChanged;
    private readonly Dictionary<string, LinkedList<Waiter>> _byUser = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _turns = new(); // users with waiters; the first one is served next
    private int _running;
    private int _queued;

    /// <param name="limit">Slots (steps that run at once), at least 1.</param>
    /// <param name="queueLengthChanged">Called (under the queue's lock) with the number of waiting steps after each change.</param>
    /// <param name="maxQueued">Steps that may wait at once, at least 0 (0: a step is refused whenever every slot is taken).</param>
    public FairStepQueue(int limit, Action<int>? queueLengthChanged = null, int maxQueued = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxQueued);
        _limit = limit;
        _maxQueued = maxQueued;
        _queueLengthChanged = queueLengthChanged;
    }

    public int Limit => _limit;

    /// <summary>Steps waiting for a slot.</summary>
    public int QueueLength { get { lock (_gate) return _queued; } }

    /// <summary>Steps holding a slot.</summary>
    public int Running { get { lock (_gate) return _running; } }

    /// <summary>Steps that may wait at once.</summary>
    public int MaxQueued => _maxQueued;

    /// <summary>True when a step entering now would be refused: every slot is taken and <see cref="MaxQueued"/> steps wait.</summary>
    public bool IsFull { get { lock (_gate) return MustWait && _queued >= _maxQueued; } }

    private bool MustWait => _running >= _limit || _queued > 0;

    /// <summary>
    /// Runs <paramref name="run"/> in a slot for <paramref name="user"/>'s step, and frees the slot after. A step
    /// cancelled while it waits ends as cancelled, and one refused by a full queue as crashed with the reason, without
    /// running. What every executor does around its own way of running a step.
    /// </summary>
    public async Task<StepExecutionResult> RunAsync(string? user, Func<Task<StepExecutionResult>> run, CancellationToken ct)
    {
        IDisposable slot;
        try
        {
            slot = await EnterAsync(user, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new StepExecutionResult(StepOutcome.Cancelled, null, "", "cancelled while queued", TimeSpan.Zero);
        }
        catch (StepQueueFullException e)
        {
            // Submissions ask the executor's Refusal first; only a step that raced past that check ends here.
            return new StepExecutionResult(StepOutcome.Crashed, null, "", e.Message, TimeSpan.Zero);
        }
        using (slot)
        {
            if (ct.IsCancellationRequested)
                return new StepExecutionResult(StepOutcome.Cancelled, null, "", "cancelled while queued", TimeSpan.Zero);
            return await run();
        }
    }

    /// <summary>
    /// Waits for a slot for <paramref name="user"/>'s step. Dispose the returned lease to free the slot.
    /// Throws <see cref="OperationCanceledException"/> (and leaves the queue) when <paramref name="ct"/> is cancelled first,
    /// and <see cref="StepQueueFullException"/> at once when the step would have to wait and the queue is full.
    /// </summary>
    public Task<IDisposable> EnterAsync(string? user, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var key = string.IsNullOrEmpty(user) ? AnonymousUser : user;
        Waiter waiter;
        lock (_gate)
        {
            if (!MustWait)
            {
                _running++;
                return Task.FromResult<IDisposable>(new Lease(this));
            }
            if (_queued >= _maxQueued) throw new StepQueueFullException(_queued);
            waiter = new Waiter(key);
            if (!_byUser.TryGetValue(key, out var queue))
            {
                queue = new LinkedList<Waiter>();
                _byUser[key] = queue;
                _turns.AddLast(key);
            }
            waiter.Node = queue.AddLast(waiter);
            _queued++;
            _queueLengthChanged?.Invoke(_queued);
        }
        if (ct.CanBeCanceled)
            waiter.Registration = ct.Register(() => Abandon(waiter, ct));
        return waiter.Done.Task;
    }

    private void Abandon(Waiter waiter, CancellationToken ct)
    {
        lock (_gate)
        {
            if (waiter.Node is null) return; // already granted
            RemoveWaiting(waiter);
            _queueLengthChanged?.Invoke(_queued);
        }
        waiter.Done.TrySetCanceled(ct);
    }

    private void RemoveWaiting(Waiter waiter)
    {
        var queue = _byUser[waiter.User];
        queue.Remove(waiter.Node!);
        waiter.Node = null;
        _queued--;
        if (queue.Count == 0)
        {
            _byUser.Remove(waiter.User);
            _turns.Remove(waiter.User);
        }
    }

    private void Release()
    {
        Waiter? next = null;
        lock (_gate)
        {
            _running--;
            if (_turns.First is { } turn)
            {
                var user = turn.Value;
                next = _byUser[user].First!.Value;
                RemoveWaiting(next);
                // the user goes to the back of the line when they still have steps waiting
                if (_byUser.ContainsKey(user))
                {
                    _turns.Remove(user);
                    _turns.AddLast(user);
                }
                _running++;
                _queueLengthChanged?.Invoke(_queued);
            }
        }
        if (next is null) return;
        next.Registration.Dispose();
        next.Done.TrySetResult(new Lease(this));
    }

    private sealed class Waiter(string user)
    {
        public string User { get; } = user;
        public LinkedListNode<Waiter>? Node { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public TaskCompletionSource<IDisposable> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Lease(FairStepQueue queue) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) queue.Release();
        }
    }
}

/// <summary>A step was refused because <paramref name="waiting"/> steps already wait, the queue's maximum.</summary>
public sealed class StepQueueFullException(int waiting)
    : Exception($"the step queue is full ({waiting} {(waiting == 1 ? "step" : "steps")} waiting, the limit of Runner:MaxQueuedSteps); try again later")
{
    public int Waiting { get; } = waiting;
}

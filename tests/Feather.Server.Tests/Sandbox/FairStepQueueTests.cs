using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Sandbox;

/// <summary>The sandbox's admission queue, without Docker and without timing: grants are observed in order.</summary>
public sealed class FairStepQueueTests
{
    [Fact]
    public async Task Freed_slots_go_to_the_users_in_turn_not_in_submission_order()
    {
        var lengths = new List<int>();
        var queue = new FairStepQueue(1, lengths.Add);
        var first = await queue.EnterAsync("ada", default);
        // ada submits three more, then bob two, then carol one
        var waiting = new[] { ("ada", 2), ("ada", 3), ("ada", 4), ("bob", 1), ("bob", 2), ("carol", 1) }
            .Select(w => (Name: $"{w.Item1}{w.Item2}", Task: queue.EnterAsync(w.Item1, default))).ToList();
        Assert.Equal(6, queue.QueueLength);
        Assert.All(waiting, w => Assert.False(w.Task.IsCompleted));

        var order = new List<string>();
        var lease = first;
        for (var i = 0; i < waiting.Count; i++)
        {
            lease.Dispose();
            var granted = waiting.Where(w => w.Task.IsCompleted && !order.Contains(w.Name)).ToList();
            Assert.Single(granted); // exactly one step gets the freed slot
            order.Add(granted[0].Name);
            lease = await granted[0].Task;
            Assert.Equal(1, queue.Running);
        }
        lease.Dispose();

        Assert.Equal(["ada2", "bob1", "carol1", "ada3", "bob2", "ada4"], order);
        Assert.Equal(0, queue.QueueLength);
        Assert.Equal(0, queue.Running);
        Assert.Equal([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0], lengths);
    }

    [Fact]
    public async Task Steps_run_at_once_up_to_the_limit_and_the_next_waits()
    {
        var queue = new FairStepQueue(2);
        var a = await queue.EnterAsync("ada", default);
        var b = await queue.EnterAsync("ada", default);
        var c = queue.EnterAsync("bob", default);
        Assert.False(c.IsCompleted);
        Assert.Equal(2, queue.Running);
        Assert.Equal(1, queue.QueueLength);
        a.Dispose();
        a.Dispose(); // a lease frees its slot once
        (await c).Dispose();
        b.Dispose();
        Assert.Equal(0, queue.Running);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue_and_the_slot_goes_to_the_next()
    {
        var lengths = new List<int>();
        var queue = new FairStepQueue(1, lengths.Add);
        var holder = await queue.EnterAsync("ada", default);
        using var cancel = new CancellationTokenSource();
        var cancelled = queue.EnterAsync("bob", cancel.Token);
        var next = queue.EnterAsync("carol", default);
        Assert.Equal(2, queue.QueueLength);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, queue.QueueLength);

        holder.Dispose();
        Assert.True(next.IsCompleted);
        (await next).Dispose();
        Assert.Equal(0, queue.QueueLength);
        Assert.Equal(0, queue.Running);
        Assert.Equal([1, 2, 1, 0], lengths);
    }

    [Fact]
    public async Task Anonymous_steps_share_one_queue()
    {
        var queue = new FairStepQueue(1);
        var holder = await queue.EnterAsync(null, default);
        var anon1 = queue.EnterAsync(null, default);
        var anon2 = queue.EnterAsync("", default);
        var ada = queue.EnterAsync("ada", default);
        holder.Dispose();
        Assert.True(anon1.IsCompleted);
        (await anon1).Dispose();
        Assert.True(ada.IsCompleted); // ada's turn comes before the second anonymous step
        Assert.False(anon2.IsCompleted);
        (await ada).Dispose();
        (await anon2).Dispose();
    }

    [Fact]
    public async Task Past_the_queue_bound_a_step_is_refused_at_once_and_room_frees_when_a_waiter_leaves()
    {
        var queue = new FairStepQueue(1, maxQueued: 2);
        var running = await queue.EnterAsync("ada", default);
        Assert.False(queue.IsFull); // the next two may wait
        using var leave = new CancellationTokenSource();
        var b = queue.EnterAsync("bob", leave.Token);
        var c = queue.EnterAsync("carol", default);
        Assert.True(queue.IsFull);
        var refused = Assert.Throws<StepQueueFullException>(() => { _ = queue.EnterAsync("dan", default); }); // at once, not later
        Assert.Equal("the step queue is full (2 steps waiting, the limit of Runner:MaxQueuedSteps); try again later", refused.Message);
        Assert.Equal(2, queue.QueueLength); // the refused step never joined

        leave.Cancel(); // bob leaves: dan fits
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b);
        Assert.False(queue.IsFull);
        var d = queue.EnterAsync("dan", default);
        running.Dispose();
        (await c).Dispose();
        (await d).Dispose();
        Assert.Equal(0, queue.Running);

        var never = new FairStepQueue(1, maxQueued: 0); // 0: no step waits
        using (await never.EnterAsync("ada", default))
            Assert.Throws<StepQueueFullException>(() => { _ = never.EnterAsync("bob", default); });
        (await never.EnterAsync("bob", default)).Dispose(); // a free slot is granted as ever
        Assert.Throws<ArgumentOutOfRangeException>(() => new FairStepQueue(1, maxQueued: -1));
    }

    [Fact]
    public async Task An_already_cancelled_token_is_refused_and_a_limit_below_one_is_an_error()
    {
        var queue = new FairStepQueue(1);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.EnterAsync("ada", new CancellationToken(true)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FairStepQueue(0));
    }
}

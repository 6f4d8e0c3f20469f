using System.Text;

namespace Feather.Server.Sandbox;

/// <summary>
/// A step's live log: collects the lines the executor reports (<see cref="StepExecutionRequest.Log"/>)
/// and hands the text so far to <c>flush</c> at most once per <c>interval</c>, one flush at a time, so a
/// chatty step costs a few writes a second rather than one per line. After <see cref="CompleteAsync"/>
/// nothing more is flushed (the step's final log replaces it).
/// </summary>
public sealed class LiveStepLog(Func<string, Task> flush, TimeSpan interval) : IProgress<string>
{
    private readonly object _gate = new();
    private readonly StringBuilder _text = new();
    private Task _flushing = Task.CompletedTask;
    private bool _scheduled;
    private bool _completed;
    private readonly CancellationTokenSource _complete = new();

    /// <summary>The lines reported so far, each ending with a newline.</summary>
    public string Text
    {
        get { lock (_gate) return _text.ToString(); }
    }

    public void Report(string value)
    {
        lock (_gate)
        {
            if (_completed) return;
            _text.Append(value).Append('\n');
            if (_scheduled) return;
            _scheduled = true;
            _flushing = _flushing.ContinueWith(async _ =>
            {
                try
                {
                    await Task.Delay(interval, _complete.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                string text;
                lock (_gate)
                {
                    _scheduled = false;
                    if (_completed) return;
                    text = _text.ToString();
                }
                await flush(text);
            }, TaskScheduler.Default).Unwrap();
        }
    }

    /// <summary>Stops flushing and waits for a flush in progress, so it cannot overwrite what the caller writes next.</summary>
    public async Task CompleteAsync()
    {
        Task pending;
        lock (_gate)
        {
            _completed = true;
            pending = _flushing;
        }
        await _complete.CancelAsync(); // a flush still waiting for its turn is dropped at once
        try
        {
            await pending;
        }
        catch (Exception) when (pending.IsFaulted)
        {
            // a failed live update is superseded by the final log
        }
    }
}

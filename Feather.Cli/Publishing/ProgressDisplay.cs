using System.Diagnostics;
using Feather.Cli.Output;
using Spectre.Console;

namespace Feather.Cli.Publishing;

/// <summary>
/// Transfer progress for one file. On a terminal: a Spectre.Console progress bar redrawn in place with the bytes,
/// the percentage, the transfer rate and the time left. Otherwise (logs, CI): one line when the file starts and one
/// when it ends. A resumed transfer's bar counts only the bytes this attempt sends, so its rate and ETA stay honest.
/// </summary>
public sealed class FileProgress(TextWriter writer, bool terminal, string path, long size, string doing = "uploading", string done = "uploaded")
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _from;
    private Bar? _bar;

    /// <summary>A new attempt that sends the file from byte <paramref name="from"/> (what the server already has).</summary>
    public async Task StartAsync(int attempt, long from = 0)
    {
        _clock.Restart();
        _from = from;
        if (!terminal)
        {
            writer.WriteLine(from > 0
                ? $"resuming {path} at {Format.Bytes(from)} of {Format.Bytes(size)} (the server has those bytes){(attempt > 1 ? $", attempt {attempt}" : "")}"
                : $"{doing} {path} ({Format.Bytes(size)}){(attempt > 1 ? $", attempt {attempt}" : "")}");
            return;
        }
        if (_bar is not null) await _bar.StopAsync();
        var label = from > 0 ? $"{path} (from {Format.Bytes(from)})" : attempt > 1 ? $"{path} (attempt {attempt})" : path;
        _bar = await Bar.StartAsync(writer, label, size - from);
    }

    /// <summary><paramref name="sent"/>: the bytes of the file the server has now (including what it had before).</summary>
    public void Report(long sent) => _bar?.Report(sent - _from);

    public async Task DoneAsync()
    {
        var elapsed = _clock.Elapsed;
        if (_bar is not null)
        {
            _bar.Report(size - _from);
            await _bar.StopAsync();
            _bar = null;
            return;
        }
        writer.WriteLine($"{done} {path} ({Format.Bytes(size - _from)} {(done == "uploaded" ? "sent" : "received")}{(_from > 0 ? $", {Format.Bytes(_from)} resumed" : "")} in {Format.Duration(elapsed)}, {Speed(size - _from, elapsed)})");
        await writer.FlushAsync();
    }

    public async Task FailedAsync(string reason, bool willRetry)
    {
        if (_bar is not null)
        {
            await _bar.StopAsync();
            _bar = null;
        }
        writer.WriteLine($"{(done == "uploaded" ? "upload" : "download")} of {path} failed: {reason}{(willRetry ? "; retrying" : "")}");
    }

    private static string Speed(long bytes, TimeSpan elapsed) =>
        elapsed.TotalSeconds > 0 ? Format.Bytes((long)(bytes / elapsed.TotalSeconds)) + "/s" : "-- B/s";

    /// <summary>
    /// One Spectre.Console progress display on <paramref name="writer"/>: description, bar, percentage, bytes,
    /// rate, time left. Redrawn at most every 100 ms as bytes are reported, and once more when it stops.
    /// </summary>
    internal sealed class Bar
    {
        private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Stopwatch _sinceDraw = Stopwatch.StartNew();
        private ProgressContext? _context;
        private ProgressTask? _task;
        private Task _display = Task.CompletedTask;

        public static async Task<Bar> StartAsync(TextWriter writer, string label, long total)
        {
            var bar = new Bar();
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Standard,
                Interactive = InteractionSupport.Yes,
                Out = new AnsiConsoleOutput(writer),
            });
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            bar._display = console.Progress()
                .AutoRefresh(false).AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    bar._context = context;
                    bar._task = context.AddTask(Markup.Escape(label), maxValue: Math.Max(total, 1));
                    context.Refresh();
                    ready.SetResult();
                    await bar._finished.Task;
                    context.Refresh();
                });
            await Task.WhenAny(ready.Task, bar._display);
            return bar;
        }

        public void Report(long sent)
        {
            if (_task is null || _context is null) return;
            _task.Value = Math.Min(sent, _task.MaxValue);
            if (_sinceDraw.ElapsedMilliseconds < 100 && sent < _task.MaxValue) return;
            _sinceDraw.Restart();
            _context.Refresh();
        }

        public async Task StopAsync()
        {
            _task?.StopTask();
            _finished.TrySetResult();
            try { await _display; }
            catch (InvalidOperationException) { } // the display could not start (another live display): nothing drawn
        }
    }
}

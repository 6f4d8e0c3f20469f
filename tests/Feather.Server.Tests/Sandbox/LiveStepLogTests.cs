using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Sandbox;

public sealed class LiveStepLogTests
{
    [Fact]
    public async Task Lines_are_flushed_together_and_nothing_is_flushed_after_completion()
    {
        var flushed = new List<string>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new LiveStepLog(text =>
        {
            lock (flushed) flushed.Add(text);
            first.TrySetResult();
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(50));
        log.Report("a");
        log.Report("b");
        await first.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a\nb\n"], flushed); // both lines in one flush
        log.Report("c");
        await log.CompleteAsync(); // drops the pending flush of "c"
        log.Report("d");
        Assert.Equal("a\nb\nc\n", log.Text);
        await Task.Delay(200);
        Assert.Equal(["a\nb\n"], flushed);
    }

    [Fact]
    public void The_line_splitter_reports_whole_lines_and_stops_at_the_cap()
    {
        var lines = new List<string>();
        var splitter = new LineSplitter(new SyncProgress(lines.Add), 1024);
        splitter.Append("one\ntw"u8);
        splitter.Append("o\r\nthree"u8);
        Assert.Equal(["one", "two"], lines);
        splitter.Flush();
        Assert.Equal(["one", "two", "three"], lines);
        splitter.Append(new byte[2000]);
        Assert.Equal("[log truncated at the 1 KiB cap]", lines[^1]);
        var count = lines.Count;
        splitter.Append("more\n"u8);
        Assert.Equal(count, lines.Count);
    }

    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}

using System.Diagnostics;
using System.Globalization;
using Feather.Cli.Output;

namespace Feather.Cli.Publishing;

/// <summary>
/// Upload progress for one file. On a terminal: a bar redrawn in place with bytes, speed and ETA.
/// Otherwise (logs, CI): one line when the file starts and one when it ends.
/// </summary>
public sealed class FileProgress(TextWriter writer, bool terminal, string path, long size, string doing = "uploading", string done = "uploaded")
{
    private const int BarWidth = 24;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private long _from;

    /// <summary>A new attempt that sends the file from byte <paramref name="from"/> (what the server already has).</summary>
    public void Start(int attempt, long from = 0)
    {
        _clock.Restart();
        _lastDraw = -1000;
        _from = from;
        if (!terminal)
            writer.WriteLine(from > 0
                ? $"resuming {path} at {Format.Bytes(from)} of {Format.Bytes(size)} (the server has those bytes){(attempt > 1 ? $", attempt {attempt}" : "")}"
                : $"{doing} {path} ({Format.Bytes(size)}){(attempt > 1 ? $", attempt {attempt}" : "")}");
        else Report(from);
    }

    public void Report(long sent)
    {
        if (!terminal) return;
        var now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 100 && sent < size) return;
        _lastDraw = now;
        writer.Write("\r" + Line(path, sent, size, _clock.Elapsed, _from) + "\u001b[K");
        writer.Flush();
    }

    public void Done()
    {
        var elapsed = _clock.Elapsed;
        var speed = Speed(size - _from, elapsed);
        if (terminal) writer.Write("\r" + Line(path, size, size, elapsed, _from) + "\u001b[K\n");
        else writer.WriteLine($"{done} {path} ({Format.Bytes(size - _from)} {(done == "uploaded" ? "sent" : "received")}{(_from > 0 ? $", {Format.Bytes(_from)} resumed" : "")} in {Format.Duration(elapsed)}, {speed})");
        writer.Flush();
    }

    public void Failed(string reason, bool willRetry)
    {
        if (terminal) writer.Write("\r\u001b[K");
        writer.WriteLine($"upload of {path} failed: {reason}{(willRetry ? "; retrying" : "")}");
    }

    /// <summary>
    /// <c>model.bin  [##########--------------]  12.0 MiB/30.0 MiB  4.0 MiB/s  ETA 4s</c>; the rate counts only
    /// the bytes sent since <paramref name="from"/> (a resumed upload's start), so the ETA stays honest.
    /// </summary>
    public static string Line(string path, long sent, long size, TimeSpan elapsed, long from = 0)
    {
        var fraction = size == 0 ? 1.0 : Math.Clamp((double)sent / size, 0, 1);
        var filled = (int)Math.Round(fraction * BarWidth);
        var seconds = elapsed.TotalSeconds;
        var rate = seconds > 0 ? (sent - from) / seconds : 0;
        var eta = sent >= size ? "done" : rate > 0 ? "ETA " + Format.Duration(TimeSpan.FromSeconds((size - sent) / rate)) : "ETA --";
        return string.Create(CultureInfo.InvariantCulture,
            $"{path}  [{new string('#', filled)}{new string('-', BarWidth - filled)}]  {Format.Bytes(sent)}/{Format.Bytes(size)}  {Speed(sent - from, elapsed)}  {eta}");
    }

    private static string Speed(long bytes, TimeSpan elapsed) =>
        elapsed.TotalSeconds > 0 ? Format.Bytes((long)(bytes / elapsed.TotalSeconds)) + "/s" : "-- B/s";
}

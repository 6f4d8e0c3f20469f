using System.Text;
using System.Text.Json;

namespace Feather.Server.Sandbox;

/// <summary>
/// What a prepared container wrote before its request: the runtime's status line
/// (<c>{"type":"status","status":"prepared","ok":...}</c>, docs/contracts.md section 3), the model's stderr
/// while it prepared (the start of the step's log), and any stdout after the status line.
/// </summary>
/// <param name="Status">The status line, or null when the output ended (or the wait was given up) before it.</param>
/// <param name="Ended">Both streams ended before the status line: the process died while preparing.</param>
public sealed record PreparedPrelude(JsonElement? Status, byte[] Stderr, byte[] Stdout, bool Ended)
{
    /// <summary>The runtime said the preparation succeeded.</summary>
    public bool Ok => Status is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True;

    /// <summary>The error the runtime reported with <c>ok: false</c> (type, message, frames), when it gave one.</summary>
    public JsonElement? Error => Status is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
        ? e : null;

    public string Log => Encoding.UTF8.GetString(Stderr);

    /// <summary>Reads a started prepared container's output up to and including its status line (the first stdout line).</summary>
    public static async Task<PreparedPrelude> ReadAsync(IContainerStream stream, int maxLogBytes, CancellationToken ct)
    {
        var stderr = new MemoryStream();
        var stdout = new MemoryStream();
        var buffer = new byte[16384];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, ct);
            if (read.End) return new PreparedPrelude(null, stderr.ToArray(), stdout.ToArray(), Ended: true);
            var chunk = buffer.AsSpan(0, read.Count);
            if (!read.IsStdout)
            {
                stderr.Write(chunk[..Math.Min(chunk.Length, (int)Math.Max(0, maxLogBytes - stderr.Length))]);
                continue;
            }
            stdout.Write(chunk);
            var all = stdout.GetBuffer().AsSpan(0, (int)stdout.Length);
            var nl = all.IndexOf((byte)'\n');
            if (nl < 0)
            {
                if (stdout.Length > 64 * 1024) // a runtime that writes no status line: not a prepared container's output
                    return new PreparedPrelude(null, stderr.ToArray(), stdout.ToArray(), Ended: false);
                continue;
            }
            JsonElement? status = null;
            try
            {
                using var doc = JsonDocument.Parse(all[..nl].ToArray());
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("type", out var t)
                    && t.ValueKind == JsonValueKind.String && t.GetString() == "status")
                    status = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
            }
            return new PreparedPrelude(status, stderr.ToArray(), all[(nl + 1)..].ToArray(), Ended: false);
        }
    }
}

/// <summary>What the model wrote to stderr after its failed preparation's status line reached the runner.</summary>
public static class PreparationLog
{
    /// <summary>
    /// The log of a failed preparation: <paramref name="prelude"/>'s stderr plus what arrives on the stream within
    /// <paramref name="wait"/> (or until it ends). The engine copies stdout and stderr on their own, so the status line
    /// can overtake what the model printed just before it failed; the container is discarded afterwards, so its
    /// stream may be left mid-read.
    /// </summary>
    public static async Task<string> DrainAsync(IContainerStream stream, PreparedPrelude prelude, int maxLogBytes, TimeSpan wait)
    {
        var log = new MemoryStream();
        log.Write(prelude.Stderr);
        var buffer = new byte[16384];
        using var quiet = new CancellationTokenSource(wait);
        try
        {
            while (log.Length < maxLogBytes)
            {
                var read = await stream.ReadOutputAsync(buffer, quiet.Token);
                if (read.End) break;
                if (!read.IsStdout) log.Write(buffer, 0, (int)Math.Min(read.Count, maxLogBytes - log.Length));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { }
        return Encoding.UTF8.GetString(log.GetBuffer(), 0, (int)log.Length);
    }
}

/// <summary>A model's preparation that failed, as shown on its version and in the steps that needed it.</summary>
/// <param name="Message">One line: "PreparationError: the model's preparation failed: ...", or what killed it.</param>
/// <param name="ErrorJson">The runtime's error object (type, message, frames of the model's code), or null when the process died.</param>
/// <param name="Log">The model's stderr while it prepared (capped).</param>
public sealed record PreparationFailure(string Message, string? ErrorJson, string Log, DateTime At);

/// <summary>Where the runner reports how a model's preparation went, per version image and entrypoint (the server shows it on the version).</summary>
public interface IPreparationReports
{
    /// <summary>The preparation failed (null: it succeeded). Called on a change only, not for every step.</summary>
    void Report(string image, string entrypoint, PreparationFailure? failure);
}

/// <summary>The runner on its own (no versions to show it on): nothing is recorded.</summary>
public sealed class NoPreparationReports : IPreparationReports
{
    public void Report(string image, string entrypoint, PreparationFailure? failure)
    {
    }
}

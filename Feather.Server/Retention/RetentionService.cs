using Feather.Server.Configuration;
using Feather.Server.Runs;
using Feather.Server.Storage;
using Feather.Server.Usage;
using Microsoft.Extensions.Options;

namespace Feather.Server.Retention;

/// <summary>Data retention settings (section <c>Retention</c>); 0 keeps that data forever.</summary>
public sealed class RetentionOptions
{
    /// <summary>Hours after its last step that a run by an anonymous visitor (with its uploads and outputs) is removed.</summary>
    public double AnonymousRunHours { get; set; } = 24;
    /// <summary>Days after its last step that a signed-in user's run is removed.</summary>
    public double UserRunDays { get; set; } = 90;
    /// <summary>Days usage records (no inputs, only counts and seconds) are kept.</summary>
    public double UsageDays { get; set; } = 400;
    /// <summary>Minutes between two sweeps.</summary>
    public double SweepMinutes { get; set; } = 60;
}

/// <summary>
/// Removes expired runs: each one whole, under the run's lock, and never while one of its steps is queued or running
/// (<see cref="RunService.DeleteAsync"/>); then the run's file folder, if the runs feature keeps one. Feedback keeps its
/// own copy of the step it is about (Feedback/FeedbackStore), so what was shared as feedback stays.
/// </summary>
public sealed class RetentionService(FeatherDb db, RunService runs, UsageService usage, FeatherOptions featherOptions,
    IOptions<RetentionOptions> options, TimeProvider time, ILogger<RetentionService> logger)
{
    private readonly SemaphoreSlim _sweeping = new(1, 1);

    /// <summary>Where run files live when a feature stores them outside the run record (one folder per run).</summary>
    public string RunFilesDirectory => Path.Combine(featherOptions.DataDirectory, "run-files");

    public static DateTime LastActivity(RunRecord run) =>
        run.Steps.Select(s => s.EndedAt ?? s.StartedAt ?? s.QueuedAt ?? run.CreatedAt).Append(run.CreatedAt).Max();

    public bool Expired(RunRecord run, DateTime now)
    {
        var o = options.Value;
        var keep = run.CreatedBy is null ? TimeSpan.FromHours(o.AnonymousRunHours) : TimeSpan.FromDays(o.UserRunDays);
        return keep > TimeSpan.Zero && LastActivity(run) < now - keep;
    }

    /// <summary>One sweep at <paramref name="now"/> (the clock's time by default).</summary>
    public async Task<RetentionSweepView> SweepAsync(DateTime? now = null, CancellationToken ct = default)
    {
        await _sweeping.WaitAsync(ct);
        try
        {
            var at = now ?? time.GetUtcNow().UtcDateTime;
            // ids only, so the scan holds no run in memory while deleting
            var candidates = db.Runs.FindAll().Where(r => Expired(r, at)).Select(r => r.Id).ToList();
            int removed = 0, active = 0;
            long bytes = 0;
            foreach (var id in candidates)
            {
                ct.ThrowIfCancellationRequested();
                var run = await runs.DeleteAsync(id, r => Expired(r, at), ct);
                if (run is null)
                {
                    active++;
                    continue;
                }
                removed++;
                bytes += run.Steps.Sum(s => (long)(s.ResponsesJson?.Length ?? 0) + (s.OutputsJson?.Length ?? 0) + s.Logs.Length);
                bytes += DeleteRunFiles(id);
            }
            var o = options.Value;
            if (o.UsageDays > 0) usage.DeleteBefore(at - TimeSpan.FromDays(o.UsageDays));
            if (removed > 0) logger.LogInformation("Retention removed {Runs} expired run(s), {Bytes} bytes", removed, bytes);
            return new RetentionSweepView(removed, active, bytes, at);
        }
        finally
        {
            _sweeping.Release();
        }
    }

    /// <summary>Deletes the run's file folder (when there is one); returns the bytes it held.</summary>
    public long DeleteRunFiles(string runId)
    {
        if (runId.Length == 0 || runId.Any(c => !char.IsAsciiLetterOrDigit(c))) return 0; // ids are hex: nothing else reaches the disk
        var folder = new DirectoryInfo(Path.Combine(RunFilesDirectory, runId));
        if (!folder.Exists) return 0;
        var bytes = folder.EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        folder.Delete(recursive: true);
        return bytes;
    }
}

/// <summary>Sweeps every Retention:SweepMinutes.</summary>
internal sealed class RetentionSweeper(RetentionService retention, IOptions<RetentionOptions> options, ILogger<RetentionSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.Value.SweepMinutes));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try { await retention.SweepAsync(ct: ct); }
                catch (Exception e) when (e is not OperationCanceledException) { logger.LogError(e, "The retention sweep failed"); }
            }
        }
        catch (OperationCanceledException) { }
    }
}

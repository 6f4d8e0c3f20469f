using Feather.Server.Blobs;
using Feather.Server.Configuration;
using Feather.Server.Storage;

namespace Feather.Server.Publishing;

/// <summary>
/// Removes expired publishes (record and staging folder) and staging folders that belong to no
/// open publish (left by a crash), at start and every FEATHER_SWEEP_INTERVAL_SECONDS.
/// </summary>
internal sealed class PublishSweeper(FeatherDb db, FileSystemBlobStore blobs, FeatherOptions options, ILogger<PublishSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.SweepIntervalSeconds));
        do
        {
            try
            {
                Sweep(DateTime.UtcNow);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteDB.LiteException)
            {
                logger.LogError(e, "Sweeping expired publishes failed; will try again");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public void Sweep(DateTime now)
    {
        foreach (var expired in db.Publishes.Find(p => p.ExpiresAt < now).ToList())
        {
            blobs.DeleteStaging(expired.Id);
            db.Publishes.Delete(expired.Id);
            logger.LogInformation("Publish {PublishId} of {Owner}/{Model} expired and was removed", expired.Id, expired.Owner, expired.Name);
        }
        foreach (var folder in blobs.StagingIds().ToList())
        {
            var open = false;
            try { open = db.Publishes.FindById(folder) is not null; }
            catch (LiteDB.LiteException) { }
            if (!open)
            {
                try { blobs.DeleteStaging(folder); }
                catch (UnsafePathException) { Directory.Delete(Path.Combine(options.StagingDirectory, folder), true); }
            }
        }
    }
}

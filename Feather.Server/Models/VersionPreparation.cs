using Feather.Server.Sandbox;

namespace Feather.Server.Models;

/// <summary>Shows the runner's preparation reports on the versions built into the reported image (<see cref="ModelStore.RecordPreparation"/>).</summary>
public sealed class VersionPreparationReports(ModelStore store) : IPreparationReports
{
    public void Report(string image, string entrypoint, PreparationFailure? failure) => store.RecordPreparation(image, entrypoint, failure);
}

/// <summary>
/// Releases the prepared containers of a version as soon as another version of its model goes live (publish,
/// promote, rollback): nobody is expected to run it any more, and its containers hold memory. A later run of
/// the old version still works (it prepares in its own container, and the pool prepares again on demand).
/// </summary>
public sealed partial class LiveVersionReleaser(ModelStore store, IServiceProvider services, ILogger<LiveVersionReleaser> logger)
    : IHostedService
{
    private readonly List<Task> _releases = [];

    public Task StartAsync(CancellationToken ct)
    {
        store.LiveChanged += OnLiveChanged;
        return Task.CompletedTask;
    }

    private void OnLiveChanged(VersionRecord old, VersionRecord current)
    {
        if (old.VersionImage is not { } image || image == current.VersionImage) return; // the same files and environment: one image
        if (services.GetService<WarmContainerPool>() is not { } pool) return;
        var release = Task.Run(async () =>
        {
            try
            {
                var released = await pool.ReleaseImageAsync(image);
                if (released > 0) LogReleased(released, image);
            }
            catch (Exception e)
            {
                LogReleaseFailed(e, image); // the idle timeout removes them later
            }
        });
        lock (_releases)
        {
            _releases.RemoveAll(t => t.IsCompleted);
            _releases.Add(release);
        }
    }

    /// <summary>Completes when the releases started so far are done (tests).</summary>
    public Task IdleAsync()
    {
        lock (_releases) return Task.WhenAll(_releases.ToArray());
    }

    public async Task StopAsync(CancellationToken ct)
    {
        store.LiveChanged -= OnLiveChanged;
        await IdleAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Released {Count} prepared container(s) of {Image}: another version went live")]
    private partial void LogReleased(int count, string image);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Releasing the prepared containers of {Image} failed")]
    private partial void LogReleaseFailed(Exception e, string image);
}

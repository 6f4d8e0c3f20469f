using System.Threading.Channels;
using Feather.Server.Environments;

namespace Feather.Server.Models;

/// <summary>Versions waiting for their image, in publish order.</summary>
public sealed class ImageBuildQueue
{
    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>();

    public void Enqueue(string versionId) => _channel.Writer.TryWrite(versionId);

    public ChannelReader<string> Reader => _channel.Reader;
}

/// <summary>
/// Builds queued version images through <see cref="IImageBuilder"/>, up to <c>Runner:MaxConcurrentBuilds</c>
/// at once (one slow build does not hold up the others; the builder builds one environment hash once), and
/// records status, log, duration and the runner image id on the version. Versions left pending or building
/// by a previous process are queued again at start. With <see cref="NoImageBuilder"/> (no runner), versions stay pending.
/// When the server stops, no new build starts, and a build under way gets <see cref="StopGrace"/> to finish and be
/// recorded before it is cancelled: a version image takes a tenth of a second, and one cancelled while the engine
/// makes it would be made anyway, unrecorded (the version is built again at the next start).
/// </summary>
internal sealed class ImageBuildWorker(
    ImageBuildQueue queue, ModelStore store, IImageBuilder builder, Microsoft.Extensions.Options.IOptions<Sandbox.RunnerOptions> runnerOptions,
    Common.FeatherEvents events, ILogger<ImageBuildWorker> logger) : BackgroundService
{
    /// <summary>How long a build under way when the server stops may go on before it is cancelled.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <summary>Versions being built now: a version queued twice is built once.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _building = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!builder.CanBuild)
        {
            logger.LogWarning("This server has no image builder: version images will stay pending until the runner is configured");
            return;
        }
        var runner = runnerOptions.Value;
        foreach (var leftover in store.UnfinishedBuilds())
            queue.Enqueue(leftover.Id);

        var workers = Enumerable.Range(0, runner.MaxConcurrentBuilds).Select(_ => WorkAsync(builder, runner.MaxBuildLogBytes, stoppingToken));
        await Task.WhenAll(workers);
    }

    private async Task WorkAsync(IImageBuilder builder, int maxLogBytes, CancellationToken stoppingToken)
    {
        await foreach (var versionId in queue.Reader.ReadAllAsync(stoppingToken))
        {
            if (!_building.TryAdd(versionId, 0)) continue;
            using var grace = new CancellationTokenSource();
            using var stopping = stoppingToken.Register(() => grace.CancelAfter(StopGrace));
            try
            {
                await BuildAsync(builder, versionId, maxLogBytes, grace.Token);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Image build of {VersionId} failed unexpectedly", versionId);
                var version = store.FindVersionById(versionId);
                if (version is not null)
                {
                    version.ImageStatus = ImageStatus.Failed;
                    version.ImageError = e.Message;
                    version.ImageEndedAt = DateTime.UtcNow;
                    store.SaveVersion(version);
                }
            }
            finally
            {
                _building.TryRemove(versionId, out _);
            }
        }
    }

    private async Task BuildAsync(IImageBuilder builder, string versionId, int maxLogBytes, CancellationToken ct)
    {
        var version = store.FindVersionById(versionId);
        if (version is null || version.ImageStatus is ImageStatus.Ready or ImageStatus.Failed) return;
        var model = store.FindById(version.ModelId)!;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["ModelId"] = model.Key, ["Version"] = version.Number });

        version.ImageStatus = ImageStatus.Building;
        version.ImageStartedAt = DateTime.UtcNow;
        version.ImageLog = "";
        store.SaveVersion(version);
        logger.LogInformation("Building the image of {Model} version {Version}", model.Key, version.Number);

        var log = new LiveLog(version, store, maxLogBytes);
        var env = version.Environment;
        // a rebuild (the image was removed) uses the exact runner image of the first build
        var runnerImage = string.IsNullOrEmpty(env.RunnerImageId) ? env.RunnerImage : env.RunnerImageId;
        var request = new VersionImageRequest(model.Id, version.Number,
            new EnvironmentSpec(runnerImage, env.Profile, env.Python, env.SystemPackages, env.PythonPackages),
            version.Files.Select(f => new VersionFile(f.Path, f.Sha256, f.Size)).ToList());
        var result = await builder.BuildAsync(request, log, ct);

        version.ImageStatus = result.Outcome == ImageBuildOutcome.Ready ? ImageStatus.Ready : ImageStatus.Failed;
        version.ImageLog = string.IsNullOrEmpty(result.Log) ? log.Text : result.Log;
        version.ImageError = result.Error;
        version.ImageSeconds = result.Duration.TotalSeconds;
        version.EnvironmentImage = result.EnvironmentImage;
        version.VersionImage = result.VersionImage;
        version.ImageEndedAt = DateTime.UtcNow;
        if (string.IsNullOrEmpty(env.RunnerImageId) && result.Outcome == ImageBuildOutcome.Ready && !string.IsNullOrEmpty(result.RunnerImageId))
            env.RunnerImageId = result.RunnerImageId;
        store.SaveVersion(version);
        logger.LogInformation("Image of {Model} version {Version}: {Status} in {Seconds:F1} s", model.Key, version.Number,
            version.ImageStatus, result.Duration.TotalSeconds);
        if (version.ImageStatus == ImageStatus.Ready) events.RaiseVersionImageReady(version.Id);
    }

    /// <summary>Collects build log lines (bounded, <see cref="BuildLog"/>) and saves them on the version at most every two seconds.</summary>
    private sealed class LiveLog(VersionRecord version, ModelStore store, int maxBytes) : IProgress<string>
    {
        private readonly BuildLog _text = new(maxBytes);
        private DateTime _lastSave = DateTime.UtcNow;

        public string Text => _text.ToString();

        public void Report(string line)
        {
            _text.Append(line);
            lock (_text)
            {
                if (DateTime.UtcNow - _lastSave < TimeSpan.FromSeconds(2)) return;
                _lastSave = DateTime.UtcNow;
                version.ImageLog = _text.ToString();
                store.SaveVersion(version);
            }
        }
    }
}

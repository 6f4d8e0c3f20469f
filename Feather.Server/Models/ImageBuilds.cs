using System.Text;
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
/// Builds queued version images one at a time through <see cref="IImageBuilder"/> and records
/// status, log and duration on the version. Versions left pending or building by a previous
/// process are queued again at start. With <see cref="NoImageBuilder"/> (no runner), versions stay pending.
/// </summary>
internal sealed class ImageBuildWorker(
    ImageBuildQueue queue, ModelStore store, IImageBuilder builder, ILogger<ImageBuildWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!builder.CanBuild)
        {
            logger.LogWarning("This server has no image builder: version images will stay pending until the runner is configured");
            return;
        }
        foreach (var leftover in store.UnfinishedBuilds())
            queue.Enqueue(leftover.Id);

        await foreach (var versionId in queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await BuildAsync(versionId, stoppingToken);
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
        }
    }

    private async Task BuildAsync(string versionId, CancellationToken ct)
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

        var log = new LiveLog(version, store);
        var env = version.Environment;
        var request = new VersionImageRequest(model.Id, version.Number,
            new EnvironmentSpec(env.RunnerImage, env.Profile, env.Python, env.SystemPackages, env.PythonPackages),
            version.Files.Select(f => new VersionFile(f.Path, f.Sha256, f.Size)).ToList());
        var result = await builder.BuildAsync(request, log, ct);

        version.ImageStatus = result.Outcome == ImageBuildOutcome.Ready ? ImageStatus.Ready : ImageStatus.Failed;
        version.ImageLog = string.IsNullOrEmpty(result.Log) ? log.Text : result.Log;
        version.ImageError = result.Error;
        version.ImageSeconds = result.Duration.TotalSeconds;
        version.EnvironmentImage = result.EnvironmentImage;
        version.VersionImage = result.VersionImage;
        version.ImageEndedAt = DateTime.UtcNow;
        store.SaveVersion(version);
        logger.LogInformation("Image of {Model} version {Version}: {Status} in {Seconds:F1} s", model.Key, version.Number,
            version.ImageStatus, result.Duration.TotalSeconds);
    }

    /// <summary>Collects build log lines and saves them on the version at most every two seconds.</summary>
    private sealed class LiveLog(VersionRecord version, ModelStore store) : IProgress<string>
    {
        private readonly StringBuilder _text = new();
        private DateTime _lastSave = DateTime.UtcNow;

        public string Text { get { lock (_text) return _text.ToString(); } }

        public void Report(string line)
        {
            lock (_text)
            {
                _text.AppendLine(line);
                if (DateTime.UtcNow - _lastSave < TimeSpan.FromSeconds(2)) return;
                _lastSave = DateTime.UtcNow;
                version.ImageLog = _text.ToString();
                store.SaveVersion(version);
            }
        }
    }
}

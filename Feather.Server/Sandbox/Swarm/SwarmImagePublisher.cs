using System.Collections.Concurrent;
using Feather.Server.Environments;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Feather.Server.Sandbox.Swarm;

/// <summary>A step image as the swarm's nodes pull it: by digest from the lab's registry, with the command the wrapper runs.</summary>
public sealed record PublishedImage(string Reference, IReadOnlyList<string> Command);

/// <summary>
/// Pushes images built on the manager's engine to the configured registry (with its credentials) and names them by
/// digest, so every node runs exactly the bytes that were built. An image is pushed once per image id (a later
/// call answers from memory; after a restart a push of layers the registry already has is quick).
/// </summary>
public sealed partial class SwarmImagePublisher(SwarmClient client, IOptions<SwarmOptions> options, ILogger<SwarmImagePublisher> logger)
{
    private readonly ConcurrentDictionary<string, PublishedImage> _byImageId = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();

    public static readonly Counter Pushes = Metrics.CreateCounter(
        "feather_image_pushes_total", "Images pushed to the swarm's registry, by outcome (pushed, failed).", "outcome");

    /// <summary>The registry repository and tag of a local image reference (feather-version:m-1 → registry/feather-version, m-1).</summary>
    public static (string Repository, string Tag) Target(string registry, string image, string imageId)
    {
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        if (image.StartsWith("sha256:", StringComparison.Ordinal) || colon <= slash)
            return ($"{registry}/feather-image", imageId.Replace("sha256:", "", StringComparison.Ordinal)[..16]);
        var repository = image[..colon];
        return ($"{registry}/{repository[(slash + 1)..]}", image[(colon + 1)..]);
    }

    /// <summary>Pushes <paramref name="image"/> unless it was pushed before; throws <see cref="ImageNotFoundException"/> when the engine lacks it.</summary>
    public async Task<PublishedImage> PublishAsync(string image, CancellationToken ct)
    {
        var inspected = await client.InspectImageAsync(image, ct)
            ?? throw new ImageNotFoundException($"image {image} not found", $"image {image} not found on the Docker engine");
        if (_byImageId.TryGetValue(inspected.Id, out var known)) return known;
        // A version image built by a local-mode server with Runner:Weights=mount holds no weights: a node could not mount them.
        if (await client.ImageLabelsAsync(image, ct) is { } labels && labels.ContainsKey(VersionWeights.MountsLabel))
            throw new ContainerEngineException($"image {image} keeps its weights out of the image",
                $"{image} was built with its weights kept out of the image (Runner:Weights=mount, by a local-mode server), and swarm nodes "
                + "cannot mount them from this server's disk; publish the version again so that it is built with its weights inside");
        var gate = _locks.GetOrAdd(inspected.Id, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (_byImageId.TryGetValue(inspected.Id, out known)) return known;
            var (repository, tag) = Target(options.Value.Registry, image, inspected.Id);
            string digest;
            try
            {
                digest = await client.PushAsync(image, repository, tag, ct);
            }
            catch (ContainerEngineException)
            {
                Pushes.WithLabels("failed").Inc();
                throw;
            }
            Pushes.WithLabels("pushed").Inc();
            var published = new PublishedImage($"{repository}@{digest}", inspected.Command);
            _byImageId[inspected.Id] = published;
            LogPushed(image, published.Reference);
            return published;
        }
        finally
        {
            gate.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pushed {Image} as {Reference}")]
    private partial void LogPushed(string image, string reference);
}

/// <summary>
/// The image builder of swarm mode: builds as in local mode on the manager's engine, then pushes the environment,
/// weights and version images to the registry (by digest), so a version is ready only once every node can pull it;
/// then the nodes that can run it pull it in the background (<see cref="SwarmImageWarmer"/>).
/// </summary>
public sealed class SwarmImageBuilder(DockerImageBuilder inner, SwarmImagePublisher publisher, SwarmClient client, SwarmImageWarmer warmer) : IImageBuilder
{
    public async Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct)
    {
        var result = await inner.BuildAsync(request, log, ct);
        if (result.Outcome != ImageBuildOutcome.Ready) return result;
        var lines = new List<string>();
        void Log(string line)
        {
            lines.Add(line);
            log?.Report(line);
        }
        try
        {
            var images = new List<string> { result.EnvironmentImage };
            var labels = await client.ImageLabelsAsync(result.VersionImage, ct);
            if (labels is not null && labels.TryGetValue(DockerImageBuilder.WeightsHashLabel, out var weights) && weights.Length >= 16)
                images.Add(DockerImageBuilder.WeightsImageTag(weights));
            images.Add(result.VersionImage);
            PublishedImage? version = null;
            foreach (var image in images)
            {
                version = await publisher.PublishAsync(image, ct);
                Log($"pushed {image} to the registry as {version.Reference}");
            }
            // the nodes pull the version image (its layers include the environment's and the weights') in the background
            warmer.Start(version!.Reference, request.Environment.Profile);
            return result with { Log = result.Log + string.Join("", lines.Select(l => l + "\n")) };
        }
        catch (ContainerEngineException e)
        {
            var error = $"the image was built but could not be pushed to the registry: {e.Detail.Trim()}";
            Log("error: " + error);
            return result with { Outcome = ImageBuildOutcome.Failed, Error = error, Log = result.Log + string.Join("", lines.Select(l => l + "\n")) };
        }
    }
}

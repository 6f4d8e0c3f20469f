using Feather.Server.Sandbox;
using Microsoft.Extensions.Options;

namespace Feather.Server.Environments;

/// <summary>The image removal policy, configuration section <c>Runner:ImageRetention</c>.</summary>
public sealed class ImageRetentionOptions
{
    public const string Section = "Runner:ImageRetention";

    /// <summary>False: no image is ever removed.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Version images of versions published or run in the last this many days are kept (besides live and tagged versions).</summary>
    public int KeepDays { get; set; } = 14;

    /// <summary>How often the policy runs.</summary>
    public int IntervalMinutes { get; set; } = 60;

    /// <summary>Images younger than this are never removed (a build in progress tags its environment image before its version image).</summary>
    public int MinAgeMinutes { get; set; } = 60;
}

public sealed class ImageRetentionOptionsValidator : IValidateOptions<ImageRetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, ImageRetentionOptions o)
    {
        var errors = new List<string>();
        const string p = ImageRetentionOptions.Section;
        if (o.KeepDays < 0) errors.Add($"{p}:KeepDays must be 0 or more (got {o.KeepDays}).");
        if (o.IntervalMinutes < 1) errors.Add($"{p}:IntervalMinutes must be at least 1 (got {o.IntervalMinutes}).");
        if (o.MinAgeMinutes < 0) errors.Add($"{p}:MinAgeMinutes must be 0 or more (got {o.MinAgeMinutes}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Which version images the server still needs (from its database).</summary>
public interface IImageKeepList
{
    /// <summary>
    /// Version image tags to keep: those of live versions, of tagged versions, and of versions
    /// published or run since <paramref name="since"/>.
    /// </summary>
    IReadOnlySet<string> VersionImagesToKeep(DateTime since);

    /// <summary>Records that a version's image was removed (a run of the version rebuilds it from its kept files).</summary>
    void ImageRemoved(string versionImage, string reason);

    /// <summary>False for <see cref="NoImageKeepList"/>: nothing is known to be unneeded, so nothing is removed.</summary>
    bool Available => true;
}

/// <summary>
/// The keep list of a runner without the server's database (the runner on its own, as in its tests):
/// it knows of no version, so the image removal policy removes nothing. The Models feature registers
/// <see cref="VersionImageKeepList"/> instead.
/// </summary>
public sealed class NoImageKeepList : IImageKeepList
{
    public bool Available => false;

    public IReadOnlySet<string> VersionImagesToKeep(DateTime since) => new HashSet<string>();

    public void ImageRemoved(string versionImage, string reason)
    {
    }
}

/// <summary>A feather image on the engine, as the policy sees it.</summary>
/// <param name="Kind">"environment", "weights" or "version" (label org.feather.image).</param>
/// <param name="Owner">The server that built it (label org.feather.owner).</param>
/// <param name="WeightsHash">The weights image a version image builds on, or a weights image's own hash ("" for none).</param>
public sealed record ManagedImage(string Id, IReadOnlyList<string> Tags, string Kind, string EnvHash, string Owner, DateTime Created,
    string WeightsHash = "");

/// <summary>What the policy removes and why: the tags to untag (the engine deletes the image with its last tag).</summary>
public sealed record ImageRemoval(ManagedImage Image, IReadOnlyList<string> Tags, string Reason);

/// <summary>The removal policy as one pure function.</summary>
public static class ImageRetention
{
    /// <summary>
    /// Chooses the images of <paramref name="owner"/> to remove: the tags of version images that are not in
    /// <paramref name="keep"/> (an image goes with its last tag); then a weights image that no remaining version image builds on;
    /// then an environment image that no remaining version or weights image (of any server on the engine) builds on. Never an
    /// image a container uses (running or not), nor one younger than <paramref name="minAge"/>. Children come first in the
    /// result: version images, weights images, environment images.
    /// </summary>
    public static IReadOnlyList<ImageRemoval> Plan(IReadOnlyList<ManagedImage> images, string owner, IReadOnlySet<string> keep,
        IReadOnlySet<string> usedByContainers, DateTime now, TimeSpan minAge)
    {
        bool Removable(ManagedImage i) => i.Owner == owner && !usedByContainers.Contains(i.Id) && now - i.Created >= minAge;

        var removals = new List<ImageRemoval>();
        var removed = new HashSet<string>();
        foreach (var v in images.Where(i => i.Kind == "version" && Removable(i)))
        {
            // Two versions with the same files and environment share one image under two tags: drop only the unneeded tags.
            var drop = v.Tags.Where(t => !keep.Contains(t)).ToList();
            if (drop.Count == 0) continue;
            removals.Add(new ImageRemoval(v, drop, "no live, tagged or recently used version needs it"));
            if (drop.Count == v.Tags.Count) removed.Add(v.Id);
        }
        var versions = images.Where(i => i.Kind == "version" && !removed.Contains(i.Id)).ToList();
        var neededWeights = versions.Select(i => i.WeightsHash).Where(h => h.Length > 0).ToHashSet();
        foreach (var w in images.Where(i => i.Kind == "weights"))
        {
            if (Removable(w) && !neededWeights.Contains(w.WeightsHash))
            {
                removals.Add(new ImageRemoval(w, w.Tags, "no version image builds on it"));
                removed.Add(w.Id);
            }
        }
        var neededHashes = versions.Concat(images.Where(i => i.Kind == "weights" && !removed.Contains(i.Id))).Select(i => i.EnvHash).ToHashSet();
        foreach (var e in images.Where(i => i.Kind == "environment"))
            if (Removable(e) && !neededHashes.Contains(e.EnvHash))
                removals.Add(new ImageRemoval(e, e.Tags, "no version image builds on it"));
        return removals;
    }
}

/// <summary>
/// Runs the removal policy every <see cref="ImageRetentionOptions.IntervalMinutes"/> against the engine: lists
/// the feather images and the containers, asks <see cref="IImageKeepList"/> what the server still needs, and
/// removes the rest without force (the engine itself refuses an image that a container uses, or a child image of a
/// Dockerfile build; a loaded version image has no parent link, so its base is kept by the labels above alone).
/// Containers the <see cref="WarmContainerPool"/> holds ready do not keep an image: the pool releases them first.
/// </summary>
public sealed partial class ImageJanitor(
    IContainerEngine engine,
    IImageKeepList keepList,
    IOptions<RunnerOptions> runner,
    IOptions<ImageRetentionOptions> options,
    ILogger<ImageJanitor> logger,
    WarmContainerPool? pool = null) : BackgroundService
{
    /// <summary>Applies the policy once as of <paramref name="now"/>; returns what it removed.</summary>
    public async Task<IReadOnlyList<ImageRemoval>> RunOnceAsync(DateTime now, CancellationToken ct)
    {
        // Without the server's database (NoImageKeepList) nothing is known to be unneeded: nothing is removed.
        if (!keepList.Available) return [];
        var o = options.Value;
        var listed = await engine.ListImagesAsync(SandboxParameters.ManagedLabel, "true", ct);
        var images = listed
            .Where(i => i.Labels.ContainsKey(DockerImageBuilder.KindLabel))
            .Select(i => new ManagedImage(i.Id, i.Tags, i.Labels[DockerImageBuilder.KindLabel],
                Label(i.Labels, DockerImageBuilder.EnvHashLabel), Label(i.Labels, SandboxParameters.OwnerLabel), i.Created,
                Label(i.Labels, DockerImageBuilder.WeightsHashLabel)))
            .ToList();
        var containers = await engine.ListContainersAsync(null, ct);
        // A container kept ready ahead of demand serves no step yet: it is released with its image, not a reason to keep it.
        var used = containers.Where(c => pool?.Holds(c.Name) != true).Select(c => c.ImageId).ToHashSet();
        var keep = keepList.VersionImagesToKeep(now - TimeSpan.FromDays(o.KeepDays));
        var plan = ImageRetention.Plan(images, runner.Value.InstanceId, keep, used, now, TimeSpan.FromMinutes(o.MinAgeMinutes));

        var done = new List<ImageRemoval>();
        foreach (var removal in plan)
        {
            try
            {
                if (pool is not null && removal.Image.Kind == "version")
                    foreach (var tag in removal.Tags)
                        await pool.ReleaseImageAsync(tag);
                // Untag each tag, then the engine deletes the image when no tag, container or child holds it.
                foreach (var tag in removal.Tags.DefaultIfEmpty(removal.Image.Id))
                    await engine.RemoveImageAsync(tag, ct);
                done.Add(removal);
                LogRemoved(string.Join(", ", removal.Tags), removal.Reason);
                if (removal.Image.Kind == "version")
                    foreach (var tag in removal.Tags)
                        keepList.ImageRemoved(tag, $"its image was removed by the image retention policy ({removal.Reason}, unused for {o.KeepDays} days); a run of the version rebuilds it");
            }
            catch (ImageNotFoundException)
            {
            }
            catch (ContainerEngineException e)
            {
                LogKept(string.Join(", ", removal.Tags), e.Message); // in use after all (a container started meanwhile, a child image)
            }
        }
        return done;
    }

    private static string Label(IReadOnlyDictionary<string, string> labels, string key) => labels.TryGetValue(key, out var v) ? v : "";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled) return;
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.Value.IntervalMinutes));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RunOnceAsync(DateTime.UtcNow, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed image {Tags}: {Reason}")]
    private partial void LogRemoved(string tags, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kept image {Tags}: the engine refused to remove it ({Detail})")]
    private partial void LogKept(string tags, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The image retention policy failed")]
    private partial void LogFailed(Exception e);
}

using Feather.Server.Models;
using Feather.Server.Storage;

namespace Feather.Server.Environments;

/// <summary>The database's view of which version images are needed: live, tagged, or published or run recently.</summary>
public sealed class VersionImageKeepList(FeatherDb db, ModelStore store) : IImageKeepList
{
    public IReadOnlySet<string> VersionImagesToKeep(DateTime since)
    {
        var needed = new HashSet<(string Model, int Version)>();
        foreach (var model in db.Models.FindAll())
        {
            if (model.LiveVersion is { } live) needed.Add((model.Id, live));
            foreach (var tagged in model.Tags.Values) needed.Add((model.Id, tagged));
        }
        foreach (var run in db.Runs.FindAll())
            if (run.CreatedAt >= since || run.Steps.Any(s => s.StartedAt >= since || s.QueuedAt >= since))
                needed.Add((run.ModelId, run.Version));
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var version in db.Versions.FindAll())
        {
            if (version.VersionImage is null) continue;
            if (version.CreatedAt >= since || needed.Contains((version.ModelId, version.Number)))
                keep.Add(version.VersionImage);
        }
        return keep;
    }

    public void ImageRemoved(string versionImage, string reason) => store.MarkImageRemoved(versionImage, reason);
}

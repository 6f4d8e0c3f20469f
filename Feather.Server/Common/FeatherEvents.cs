namespace Feather.Server.Common;

/// <summary>
/// In-process notices one feature raises and another acts on, so the raising feature does not depend on the
/// listener (models and datasets raise; evaluations listen). Handlers must be quick and must not throw.
/// </summary>
public sealed class FeatherEvents(ILogger<FeatherEvents> logger)
{
    /// <summary>A model version's image became ready (argument: the version's id).</summary>
    public event Action<string>? VersionImageReady;

    /// <summary>A dataset version was published (arguments: the dataset's id, the version number).</summary>
    public event Action<string, int>? DatasetVersionPublished;

    public void RaiseVersionImageReady(string versionId) => Raise(() => VersionImageReady?.Invoke(versionId), "VersionImageReady");

    public void RaiseDatasetVersionPublished(string datasetId, int version) =>
        Raise(() => DatasetVersionPublished?.Invoke(datasetId, version), "DatasetVersionPublished");

    private void Raise(Action raise, string name)
    {
        try
        {
            raise();
        }
        catch (Exception e)
        {
            logger.LogError(e, "A handler of {Event} failed", name);
        }
    }
}

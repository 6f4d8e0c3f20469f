using Feather.Server.Models;

namespace Feather.Server.Publishing;

/// <summary>An open publish: the manifest waiting for its uploads. Deleted when completed or expired.</summary>
public sealed class PublishRecord
{
    public string Id { get; set; } = "";
    /// <summary>What the publish makes: a model version (<see cref="PublishKinds.Model"/>) or a dataset version.</summary>
    public string Kind { get; set; } = PublishKinds.Model;
    public string Owner { get; set; } = "";
    public string Name { get; set; } = "";
    public string Publisher { get; set; } = "";
    public string MetadataJson { get; set; } = "{}";
    public List<VersionFileRecord> Files { get; set; } = [];
    public string? Notes { get; set; }
    public string? Visibility { get; set; }
    public bool Promote { get; set; } = true;
    public DateTime CreatedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
}

public static class PublishKinds
{
    public const string Model = "model";
    public const string Dataset = "dataset";
}

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
    /// <summary>The manifest; a file published without a SHA-256 has an empty one until <see cref="PublishService"/> completes the publish.</summary>
    public List<VersionFileRecord> Files { get; set; } = [];
    /// <summary>
    /// The modification time the client gave for each file published without a SHA-256 (in ticks: the database keeps
    /// times to the millisecond only): a publish started again resumes those files only when these match.
    /// </summary>
    public List<FileStamp> Modified { get; set; } = [];
    public string? Notes { get; set; }
    public string? Visibility { get; set; }
    public bool Promote { get; set; } = true;
    public DateTime CreatedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>A file's path and its last modification time, in UTC ticks.</summary>
public sealed class FileStamp
{
    public string Path { get; set; } = "";
    public long Ticks { get; set; }
}

public static class PublishKinds
{
    public const string Model = "model";
    public const string Dataset = "dataset";
}

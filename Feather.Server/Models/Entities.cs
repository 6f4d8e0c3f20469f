namespace Feather.Server.Models;

public static class Visibility
{
    public const string Private = "private";
    public const string Unlisted = "unlisted";
    public const string Public = "public";
    public static readonly string[] All = [Private, Unlisted, Public];
}

public static class ImageStatus
{
    public const string Pending = "pending";
    public const string Building = "building";
    public const string Ready = "ready";
    public const string Failed = "failed";
    /// <summary>Built once, then removed by the image retention policy; the next run rebuilds it.</summary>
    public const string Removed = "removed";
}

public sealed class ModelRecord
{
    /// <summary>Random hex id: safe in Docker image tags (feather-version:&lt;id&gt;-&lt;n&gt;).</summary>
    public string Id { get; set; } = "";
    /// <summary>"owner/name", unique.</summary>
    public string Key { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    /// <summary>The live version's display name (metadata title), null when it has none.</summary>
    public string? Title { get; set; }
    public string Visibility { get; set; } = Models.Visibility.Private;
    public int? LiveVersion { get; set; }
    /// <summary>Live versions before the current one, newest last (for rollback).</summary>
    public List<int> LiveHistory { get; set; } = [];
    public Dictionary<string, int> Tags { get; set; } = [];
    public List<string> TaskTags { get; set; } = [];
    public List<string> DatasetTags { get; set; } = [];
    public int LatestVersion { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public sealed class VersionFileRecord
{
    public string Path { get; set; } = "";
    public string Sha256 { get; set; } = "";
    public long Size { get; set; }
    public string Kind { get; set; } = "code";
}

public sealed class EnvironmentRecord
{
    /// <summary>The runner image reference configured at publish (Runner:BaseImage).</summary>
    public string RunnerImage { get; set; } = "";
    /// <summary>The id (sha256:…) of the runner image the first successful build used; rebuilds use exactly this image.</summary>
    public string? RunnerImageId { get; set; }
    public string Profile { get; set; } = "low";
    public string Python { get; set; } = "";
    public List<string> SystemPackages { get; set; } = [];
    public List<string> PythonPackages { get; set; } = [];
}

/// <summary>An immutable version: only its image build fields change after it is recorded.</summary>
public sealed class VersionRecord
{
    /// <summary>"{modelId}-{number}".</summary>
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public int Number { get; set; }
    public string MetadataJson { get; set; } = "{}";
    public List<VersionFileRecord> Files { get; set; } = [];
    public EnvironmentRecord Environment { get; set; } = new();
    public string Publisher { get; set; } = "";
    public string? Notes { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>The visibility the publish asked for (null: unchanged); applied when the version goes live.</summary>
    public string? RequestedVisibility { get; set; }

    public string ImageStatus { get; set; } = Models.ImageStatus.Pending;
    public string ImageLog { get; set; } = "";
    public string? ImageError { get; set; }
    public double? ImageSeconds { get; set; }
    public string? EnvironmentImage { get; set; }
    public string? VersionImage { get; set; }
    public DateTime? ImageStartedAt { get; set; }
    public DateTime? ImageEndedAt { get; set; }

    /// <summary>How the model's preparation went in prepared containers (<see cref="PreparationStatus"/>); null: not prepared yet.</summary>
    public string? PreparationStatus { get; set; }
    /// <summary>The failed preparation's one-line message ("PreparationError: ..."), null unless failed.</summary>
    public string? PreparationMessage { get; set; }
    /// <summary>The runtime's error object (type, message, frames of the model's code), JSON; null when the process died.</summary>
    public string? PreparationErrorJson { get; set; }
    /// <summary>The model's stderr while it prepared (capped), kept for a failure.</summary>
    public string? PreparationLog { get; set; }
    public DateTime? PreparationAt { get; set; }

    /// <summary>Where a version made by a fine-tune job came from; null for a published version.</summary>
    public VersionLineageRecord? Lineage { get; set; }
}

/// <summary>A fine-tuned version's lineage: the job, the base version, the dataset version, the hyperparameters, the job's metrics and log.</summary>
public sealed class VersionLineageRecord
{
    public string Job { get; set; } = "";
    public string BaseModel { get; set; } = "";
    public int BaseVersion { get; set; }
    public string Dataset { get; set; } = "";
    public int DatasetVersion { get; set; }
    public string ParamsJson { get; set; } = "{}";
    public Dictionary<string, double> Metrics { get; set; } = [];
    public string RequestedBy { get; set; } = "";
    public string Logs { get; set; } = "";
}

/// <summary>A version's preparation state as the runner reported it.</summary>
public static class PreparationStatus
{
    public const string Ready = "ready";
    public const string Failed = "failed";
}

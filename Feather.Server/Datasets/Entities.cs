using Feather.Datasets;
using Feather.Server.Models;

namespace Feather.Server.Datasets;

/// <summary>A dataset: its owner and name, who may see it, and what its latest version says it is.</summary>
public sealed class DatasetRecord
{
    public string Id { get; set; } = "";
    /// <summary>"owner/name", unique.</summary>
    public string Key { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Title { get; set; }
    public string Description { get; set; } = "";
    public string Task { get; set; } = "";
    /// <summary>"test" (held-out, evaluated automatically) or "train" (fine-tuning data), from the latest version's manifest.</summary>
    public string Split { get; set; } = DatasetManifest.TestSplit;
    /// <summary>Training data: never evaluated automatically, never a task's default leaderboard.</summary>
    public bool IsTraining => Split == DatasetManifest.TrainSplit;
    public string? Licence { get; set; }
    public string? Citation { get; set; }
    public string Visibility { get; set; } = Models.Visibility.Private;
    public int LatestVersion { get; set; }
    public long RecordCount { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>An immutable dataset version: the manifest it was published with, its files and what reading its records found.</summary>
public sealed class DatasetVersionRecord
{
    /// <summary>"{datasetId}-{number}".</summary>
    public string Id { get; set; } = "";
    public string DatasetId { get; set; } = "";
    public int Number { get; set; }
    /// <summary>The dataset.json of the version, verbatim.</summary>
    public string ManifestJson { get; set; } = "{}";
    /// <summary>The records file's path among <see cref="Files"/>.</summary>
    public string Records { get; set; } = "";
    public List<VersionFileRecord> Files { get; set; } = [];
    public long RecordCount { get; set; }
    /// <summary>The first few records (labels included), as a JSON array, for the preview.</summary>
    public string ExamplesJson { get; set; } = "[]";
    public string Publisher { get; set; } = "";
    public string? Notes { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>What a completed dataset publish records.</summary>
public sealed record NewDatasetVersion(
    string Owner, string Name, string? Visibility, string Publisher, string? Notes, string ManifestJson, DatasetManifest Manifest,
    List<VersionFileRecord> Files, long RecordCount, string ExamplesJson);

using System.Text.Json;

namespace Feather.Contracts;

/// <summary>A record field of a dataset: its type (text, number, integer, label, file, image) and role (input or label).</summary>
public sealed record DatasetFieldInfo(string Name, string Type, string Role, string? Description, string[]? Classes);

/// <summary>Starts publishing a dataset version: the manifest (dataset.json) and every file (the records file and the files records point at).</summary>
/// <param name="Owner">A team of the caller (default: the caller).</param>
/// <param name="Visibility">private (default for a new dataset), unlisted or public.</param>
public sealed record StartDatasetPublishRequest(
    JsonElement Manifest, ManifestFile[] Files, string? Owner = null, string? Notes = null, string? Visibility = null);

public sealed record DatasetPublishStarted(
    string PublishId, string Owner, string Dataset, DateTime ExpiresAt, UploadSlot[] Uploads, string[] AlreadyStored);

public sealed record DatasetPublishCompleted(string Owner, string Dataset, int Version, long RecordCount, string Url);

/// <param name="Split">test (held out: evaluated automatically, ranked on leaderboards) or train (for fine-tuning only).</param>
public sealed record DatasetSummary(string Owner, string Name, string? Title, string Description, string Task, string Visibility,
    int LatestVersion, long RecordCount, DateTime UpdatedAt, string Split);

public sealed record DatasetVersionSummary(int Number, DateTime CreatedAt, string Publisher, string? Notes, long RecordCount, string Records);

/// <summary>A dataset as its latest version describes it, with its versions and a few example records (labels included).</summary>
/// <param name="Split">test (held out: evaluated automatically, ranked on leaderboards) or train (for fine-tuning only), from the latest version's manifest.</param>
public sealed record DatasetDetail(string Owner, string Name, string? Title, string Description, string Task, string? Licence,
    string? Citation, string Visibility, int LatestVersion, long RecordCount, DatasetFieldInfo[] Fields, JsonElement[] Examples,
    DatasetVersionSummary[] Versions, DateTime CreatedAt, DateTime UpdatedAt, string Split);

/// <summary>One immutable version: its manifest's fields, its record count, a few example records and its files.</summary>
public sealed record DatasetVersionDetail(string Owner, string Dataset, int Number, DateTime CreatedAt, string Publisher, string? Notes,
    string? Title, string Description, string Task, string? Licence, string? Citation, string Records, long RecordCount,
    DatasetFieldInfo[] Fields, JsonElement[] Examples, FileInfo[] Files);

public sealed record UpdateDatasetRequest(string? Visibility = null, string? Description = null);

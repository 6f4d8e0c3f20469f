namespace Feather.Contracts;

public sealed record ManifestFile(string Path, long Size, string Sha256, string Kind);

/// <param name="Owner">A team of the caller (default: the caller).</param>
/// <param name="Visibility">private (default for a new model), unlisted or public.</param>
/// <param name="Promote">Make the new version live (default true).</param>
public sealed record StartPublishRequest(
    System.Text.Json.JsonElement Metadata, ManifestFile[] Files, string? Owner = null, string? Notes = null,
    string? Visibility = null, bool? Promote = null);

public sealed record UploadSlot(string Path, string Url);

public sealed record PublishStarted(
    string PublishId, string Owner, string Model, DateTime ExpiresAt, UploadSlot[] Uploads, string[] AlreadyStored);

public sealed record VersionRef(int Number, DateTime CreatedAt, string ImageStatus);

public sealed record PublishCompleted(string Owner, string Model, VersionRef Version, string Url);

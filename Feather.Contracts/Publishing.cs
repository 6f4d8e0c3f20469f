namespace Feather.Contracts;

/// <summary>One file of a publish's manifest.</summary>
/// <param name="Sha256">
/// The file's SHA-256 (64 hex digits): the server skips a file it already holds for the caller and checks every
/// uploaded byte against it. A model publish may leave it out (null) for a large file whose hash the client does not
/// know yet: the server names the file by the hash of the bytes it receives (the upload's last answer carries it in
/// <c>Upload-Sha256</c>), so the client reads the file once instead of twice; such a file is always uploaded.
/// </param>
/// <param name="Modified">
/// For a file without <c>sha256</c>: its last modification time. A publish started again resumes such a file only
/// when its path, size and modification time are those of the open publish (else the bytes staged are not used).
/// </param>
public sealed record ManifestFile(string Path, long Size, string? Sha256, string Kind, DateTime? Modified = null);

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

using System.Text.Json;

namespace Feather.Contracts;

public sealed record CatalogueTags(string[] Task, string[] Dataset);
public sealed record ModelSummary(string Owner, string Name, string Description, int? LiveVersion, string Visibility,
    CatalogueTags Tags, IReadOnlyDictionary<string, int> VersionTags, DateTime UpdatedAt, string? Title);
/// <param name="Preparation">How the model's preparation went in prepared containers: "ready", "failed", or null (not yet prepared).</param>
public sealed record VersionSummary(int Number, DateTime CreatedAt, string Publisher, string? Notes, string ImageStatus,
    bool Live, string[] Tags, string? Preparation = null, string? PreparationMessage = null, VersionLineage? Lineage = null);
public sealed record ModelDetail(string Owner, string Name, string Description, string Visibility, int? LiveVersion,
    int LatestVersion, CatalogueTags Tags, IReadOnlyDictionary<string, int> VersionTags, DateTime CreatedAt,
    DateTime UpdatedAt, VersionSummary[] Versions, JsonElement? Metadata);
public sealed record FileInfo(string Path, string Sha256, long Size, string Kind);
public sealed record EnvironmentInfo(string RunnerImage, string Profile, string Python, string[] SystemPackages, string[] PythonPackages, string? RunnerImageId);
public sealed record ImageInfo(string Status, string Log, string? Error, double? Seconds, string? EnvironmentImage,
    string? VersionImage, DateTime? StartedAt, DateTime? EndedAt);
/// <summary>How the model's preparation (import and <c>prepare</c>) went in a prepared container, as the runner last reported it.</summary>
/// <param name="Status">"ready" or "failed".</param>
/// <param name="Message">For a failure: one line ("PreparationError: the model's preparation failed: ...", or what killed it).</param>
/// <param name="Error">For a failure the model raised: the runtime's error (type, message, frames of the model's code).</param>
/// <param name="Log">For a failure: what the model wrote to stderr while it prepared (capped).</param>
public sealed record PreparationInfo(string Status, string? Message, JsonElement? Error, string Log, DateTime? At);
public sealed record VersionDetail(string Owner, string Model, int Number, DateTime CreatedAt, string Publisher, string? Notes,
    bool Live, string[] Tags, JsonElement Metadata, FileInfo[] Files, EnvironmentInfo Environment, ImageInfo Image,
    PreparationInfo? Preparation = null, VersionLineage? Lineage = null);
public sealed record UpdateModelRequest(string? Visibility = null, string? Description = null);
public sealed record VersionChoice(string Version);

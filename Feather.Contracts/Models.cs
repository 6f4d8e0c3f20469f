using System.Text.Json;

namespace Feather.Contracts;

public sealed record CatalogueTags(string[] Task, string[] Dataset);
public sealed record ModelSummary(string Owner, string Name, string Description, int? LiveVersion, string Visibility,
    CatalogueTags Tags, IReadOnlyDictionary<string, int> VersionTags, DateTime UpdatedAt, string? Title);
public sealed record VersionSummary(int Number, DateTime CreatedAt, string Publisher, string? Notes, string ImageStatus,
    bool Live, string[] Tags);
public sealed record ModelDetail(string Owner, string Name, string Description, string Visibility, int? LiveVersion,
    int LatestVersion, CatalogueTags Tags, IReadOnlyDictionary<string, int> VersionTags, DateTime CreatedAt,
    DateTime UpdatedAt, VersionSummary[] Versions, JsonElement? Metadata);
public sealed record FileInfo(string Path, string Sha256, long Size, string Kind);
public sealed record EnvironmentInfo(string RunnerImage, string Profile, string Python, string[] SystemPackages, string[] PythonPackages, string? RunnerImageId);
public sealed record ImageInfo(string Status, string Log, string? Error, double? Seconds, string? EnvironmentImage,
    string? VersionImage, DateTime? StartedAt, DateTime? EndedAt);
public sealed record VersionDetail(string Owner, string Model, int Number, DateTime CreatedAt, string Publisher, string? Notes,
    bool Live, string[] Tags, JsonElement Metadata, FileInfo[] Files, EnvironmentInfo Environment, ImageInfo Image);
public sealed record UpdateModelRequest(string? Visibility = null, string? Description = null);
public sealed record VersionChoice(string Version);

using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Publishing;

/// <summary>One file of the manifest sent with <c>POST /api/publish</c>.</summary>
public sealed record BundleFile(string Path, long Size, string Sha256, string Kind)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public string FullPath { get; init; } = "";
}

public static class BundleManifest
{
    /// <summary>Every file of <c>metadata.bundle.code</c> and <c>metadata.bundle.model</c>, checked, sized and hashed.</summary>
    public static async Task<IReadOnlyList<BundleFile>> BuildAsync(string root, JsonNode metadata, CancellationToken ct)
    {
        if (metadata["bundle"] is not JsonObject bundle)
            throw new CliException(ExitCodes.ValidationFailed, "the model's metadata has no \"bundle\" object", "is the SDK that inspected it up to date?");
        var files = new List<BundleFile>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kind in new[] { "code", "model" })
        {
            if (bundle[kind] is null) continue;
            if (bundle[kind] is not JsonArray list)
                throw new CliException(ExitCodes.ValidationFailed, $"metadata.bundle.{kind} is not a list of paths");
            foreach (var item in list)
            {
                if (item?.GetValueKind() != JsonValueKind.String)
                    throw new CliException(ExitCodes.ValidationFailed, $"metadata.bundle.{kind} holds {item?.ToJsonString() ?? "null"}, which is not a path");
                var (full, relative) = BundlePaths.Resolve(root, item.GetValue<string>());
                if (seen.TryGetValue(relative, out var otherKind))
                {
                    if (otherKind == kind) continue;
                    throw new CliException(ExitCodes.ValidationFailed, $"'{relative}' is listed both as code and as a model file", "list it once in ftr.bundle(...)");
                }
                if (!File.Exists(full))
                    throw new CliException(ExitCodes.ValidationFailed, $"bundle file '{relative}' does not exist in {root}",
                        Directory.Exists(full) ? "list the files inside the directory, not the directory" : "fix the path in ftr.bundle(...) or add the file");
                seen[relative] = kind;
                var (sha256, size) = await HashAsync(full, ct);
                files.Add(new BundleFile(relative, size, sha256, kind) { FullPath = full });
            }
        }
        if (files.Count == 0)
            throw new CliException(ExitCodes.ValidationFailed, "the model's bundle lists no files", "declare them with ftr.bundle(code_files=[...], model_files=[...])");
        return files;
    }

    public static async Task<(string Sha256, long Size)> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var hash = await SHA256.HashDataAsync(stream, ct);
        return (Convert.ToHexStringLower(hash), stream.Length);
    }
}

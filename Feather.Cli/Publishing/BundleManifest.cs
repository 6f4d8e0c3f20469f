using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Publishing;

/// <summary>
/// One file of the manifest sent with <c>POST /api/publish</c>. <see cref="Sha256"/> is null (sent as null: the
/// contract requires the key) for a large file whose hash is not known yet: the server names it by what it receives
/// (then <see cref="Modified"/> says which version of the file a resumed publish continues).
/// </summary>
public sealed record BundleFile(string Path, long Size,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Sha256,
    string Kind, DateTime? Modified = null)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public string FullPath { get; init; } = "";
}

public static class BundleManifest
{
    /// <summary>
    /// Every file of <c>metadata.bundle.code</c> and <c>metadata.bundle.model</c>, checked, sized and hashed: several
    /// files at once (one per processor, at most four), large ones found in <paramref name="cache"/> not read again.
    /// <paramref name="serverHashes"/>: a large file (<see cref="HashCache.MinBytes"/> or more) not in the cache is not
    /// read here at all; it goes without a hash, the server hashes it as it arrives, and
    /// <see cref="Remember"/> keeps the hash the server answered for the next publish.
    /// </summary>
    public static async Task<IReadOnlyList<BundleFile>> BuildAsync(string root, JsonNode metadata, CancellationToken ct, HashCache? cache = null,
        bool serverHashes = false)
    {
        if (metadata["bundle"] is not JsonObject bundle)
            throw new CliException(ExitCodes.ValidationFailed, "the model's metadata has no \"bundle\" object", "is the SDK that inspected it up to date?");
        var found = new List<(string Full, string Relative, string Kind)>();
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
                found.Add((full, relative, kind));
            }
        }
        if (found.Count == 0)
            throw new CliException(ExitCodes.ValidationFailed, "the model's bundle lists no files", "declare them with ftr.bundle(code_files=[...], model_files=[...])");
        cache ??= HashCache.None();
        var files = new BundleFile[found.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4), CancellationToken = ct };
        // the largest first, so the hashing of several big files overlaps instead of ending on one
        await Parallel.ForEachAsync(Enumerable.Range(0, found.Count).OrderByDescending(i => new FileInfo(found[i].Full).Length), parallel, async (i, token) =>
        {
            var (full, relative, kind) = found[i];
            var info = new FileInfo(full);
            var modified = info.LastWriteTimeUtc;
            if (cache.Find(full, info.Length, modified) is { } known)
            {
                files[i] = new BundleFile(relative, info.Length, known, kind) { FullPath = full };
                return;
            }
            if (serverHashes && info.Length >= HashCache.MinBytes)
            {
                files[i] = new BundleFile(relative, info.Length, null, kind, modified) { FullPath = full };
                return;
            }
            var (sha256, size) = await HashAsync(full, token);
            // remembered only when the file did not change while it was read
            var after = new FileInfo(full);
            if (after.Length == size && after.LastWriteTimeUtc == modified) cache.Remember(full, size, modified, sha256);
            files[i] = new BundleFile(relative, size, sha256, kind) { FullPath = full };
        });
        cache.Save();
        return files;
    }

    /// <summary>
    /// Keeps the hash the server stored a file without one under, unless the file changed since the manifest was made
    /// (then the upload may hold bytes of both versions of it: an error, and the publish must run again).
    /// </summary>
    public static BundleFile Remember(BundleFile file, string sha256, HashCache cache)
    {
        var now = new FileInfo(file.FullPath);
        if (!now.Exists || now.Length != file.Size || now.LastWriteTimeUtc != file.Modified)
            throw new CliException(ExitCodes.UploadFailed, $"{file.Path} changed while it was uploaded",
                "do not edit the model while publishing; run `feather publish` again");
        cache.Remember(file.FullPath, file.Size, file.Modified!.Value, sha256);
        return file with { Sha256 = sha256, Modified = null };
    }

    public static async Task<(string Sha256, long Size)> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var hash = await SHA256.HashDataAsync(stream, ct);
        return (Convert.ToHexStringLower(hash), stream.Length);
    }
}

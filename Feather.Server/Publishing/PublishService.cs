using System.Text.Json;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Feather.Server.Storage;

namespace Feather.Server.Publishing;

/// <summary>How a step of the publishing protocol went; <see cref="PublishApi"/> turns each into its HTTP answer.</summary>
public enum PublishStatus
{
    Done,
    /// <summary>The request is wrong: <see cref="PublishResult{T}.Errors"/> per field, or one message.</summary>
    Invalid,
    /// <summary>Past a limit, named by <see cref="PublishResult{T}.Limit"/>.</summary>
    TooLarge,
    NotFound,
    Forbidden,
    /// <summary>The publish or its upload URL has expired, or the publish has completed.</summary>
    Gone,
    /// <summary>Files of the manifest have not been uploaded, or an upload does not start at the server's offset.</summary>
    Conflict,
}

/// <summary>The value of a step that went through, or why it did not (with the message the user sees).</summary>
public sealed record PublishResult<T>(
    PublishStatus Status,
    T? Value = default,
    string Message = "",
    IDictionary<string, string[]>? Errors = null,
    string? Limit = null,
    IDictionary<string, object?>? Details = null)
{
    public static PublishResult<T> Done(T value) => new(PublishStatus.Done, value);
    public static PublishResult<T> Invalid(string message, IDictionary<string, object?>? details = null) => new(PublishStatus.Invalid, Message: message, Details: details);
    public static PublishResult<T> Invalid(string message, IDictionary<string, string[]> errors) => new(PublishStatus.Invalid, Message: message, Errors: errors);
    public static PublishResult<T> TooLarge(string limit, string message) => new(PublishStatus.TooLarge, Message: message, Limit: limit);
    /// <summary>The same failure for a step of another value type.</summary>
    public static PublishResult<T> From<TOther>(PublishResult<TOther> failed) =>
        new(failed.Status, default, failed.Message, failed.Errors, failed.Limit, failed.Details);
    public static PublishResult<T> NotFound(string message) => new(PublishStatus.NotFound, Message: message);
    public static PublishResult<T> Forbidden(string message) => new(PublishStatus.Forbidden, Message: message);
    public static PublishResult<T> Gone(string message) => new(PublishStatus.Gone, Message: message);
    public static PublishResult<T> Conflict(string message, IDictionary<string, object?> details) => new(PublishStatus.Conflict, Message: message, Details: details);

    /// <summary>The same failure as the answer to another step.</summary>
    public PublishResult<TOther> As<TOther>() => new(Status, default, Message, Errors, Limit, Details);
}

/// <summary>
/// The bytes of a file staged so far (the resumable upload's offset), the file's declared size, and the hash the server
/// stored a file published without one under (once it is complete).
/// </summary>
public sealed record UploadOffset(long Offset, long Size, string? Sha256 = null);

/// <summary>
/// The publishing protocol: start (metadata + manifest → signed upload URLs for the files not yet
/// stored), upload (each file streamed to staging, checked as it arrives), complete (every file
/// checked, then one version recorded through <see cref="ModelStore"/> and the files moved into the blob store).
/// </summary>
public sealed class PublishService(
    FeatherOptions options, MetadataValidator validator, IProfilePolicy profiles, ModelStore models, Accounts accounts,
    FeatherDb db, IBlobStore blobs, FileSystemBlobStore files, UploadSigner signer, ImageBuildQueue builds,
    Microsoft.Extensions.Options.IOptions<Sandbox.RunnerOptions> runnerOptions)
{
    private readonly SemaphoreSlim _completeLock = new(1, 1);

    /// <summary>Checks the metadata and manifest and opens a publish; <paramref name="requestBaseUrl"/> is used when no public URL is configured.</summary>
    public async Task<PublishResult<PublishStarted>> StartAsync(StartPublishRequest request, Caller caller, string requestBaseUrl, CancellationToken ct)
    {
        if (request.Metadata.ValueKind == JsonValueKind.Undefined)
            return PublishResult<PublishStarted>.Invalid("the body needs 'metadata' (the output of 'python3 -m feather inspect') and 'files'");
        var errors = validator.Validate(request.Metadata);
        if (errors.Count == 0 && profiles.Refuse(MetadataValidator.Str(request.Metadata, "profile")!) is { } refusal)
            errors["metadata/profile"] = [refusal];
        if (errors.Count == 0 && PythonMismatch(request.Metadata) is { } python)
            errors["metadata/environment/python"] = [python];
        if (errors.Count > 0)
            return PublishResult<PublishStarted>.Invalid($"the model metadata is not valid ({errors.Count} problem(s))", errors);

        var manifest = request.Files ?? [];
        if (manifest.Length == 0) return PublishResult<PublishStarted>.Invalid("'files' is empty: a version needs at least its model file");
        if (CheckFiles(manifest, ["code", "model"], hashOptional: true) is { } refused) return refused.As<PublishStarted>();
        var seen = manifest.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);

        var metadata = request.Metadata;
        var entrypoint = MetadataValidator.Str(metadata, "entrypoint")!;
        var missing = new List<string> { entrypoint };
        var bundle = metadata.GetProperty("bundle");
        foreach (var key in new[] { "code", "model" })
            missing.AddRange(bundle.GetProperty(key).EnumerateArray().Select(e => e.GetString()!));
        var notListed = missing.Distinct().Where(p => !seen.Contains(p)).ToArray();
        if (notListed.Length > 0)
            return PublishResult<PublishStarted>.Invalid($"the metadata names files the manifest does not list: {string.Join(", ", notListed)}");

        if (request.Visibility is not null && !Visibility.All.Contains(request.Visibility))
            return PublishResult<PublishStarted>.Invalid($"'visibility' must be one of {string.Join(", ", Visibility.All)}");

        var name = MetadataValidator.Str(metadata, "name")!;
        var owner = request.Owner ?? caller.Username!;
        if (!accounts.NameTaken(owner)) return PublishResult<PublishStarted>.NotFound($"no user or team named '{owner}'");
        if (!models.CanPublishAs(owner, caller))
            return PublishResult<PublishStarted>.Forbidden($"you cannot publish as '{owner}': publish as yourself or as a team you belong to");
        var existing = models.Find(owner, name);
        if (existing is not null && !models.CanWrite(existing, caller))
            return PublishResult<PublishStarted>.Forbidden($"you cannot publish new versions of {owner}/{name}");

        var now = DateTime.UtcNow;
        var wanted = manifest.Select(f => new VersionFileRecord { Path = f.Path!, Sha256 = f.Sha256?.ToLowerInvariant() ?? "", Size = f.Size, Kind = f.Kind! }).ToList();
        var modified = manifest.Where(f => f.Sha256 is null)
            .Select(f => new FileStamp { Path = f.Path!, Ticks = f.Modified!.Value.ToUniversalTime().Ticks }).ToList();
        // A publish started again (after Ctrl-C, a network error or a server restart) with the same manifest
        // reuses the caller's open publish of the model, so the bytes it has staged are not sent twice.
        var record = OpenPublish(owner, name, caller.Username!, wanted, modified, now);
        if (record is not null)
        {
            record.MetadataJson = metadata.GetRawText();
            record.Notes = request.Notes;
            record.Visibility = request.Visibility;
            record.Promote = request.Promote ?? true;
            record.ExpiresAt = now.AddSeconds(options.PublishTtlSeconds);
        }
        else record = new PublishRecord
        {
            Id = Ids.New(), Owner = owner, Name = name, Publisher = caller.Username!,
            MetadataJson = metadata.GetRawText(), Notes = request.Notes, Visibility = request.Visibility,
            Promote = request.Promote ?? true, CreatedAt = now, ExpiresAt = now.AddSeconds(options.PublishTtlSeconds),
            Files = wanted, Modified = modified,
        };
        var (uploads, stored) = await OpenAsync(record, sha => models.CallerHolds(sha, caller), requestBaseUrl, ct);
        return PublishResult<PublishStarted>.Done(new PublishStarted(record.Id, owner, name, record.ExpiresAt, uploads, stored));
    }

    /// <summary>
    /// The key that names a file of a publish in its upload URL and its staging: the file's SHA-256, or, for a file
    /// published without one, <c>file-&lt;its index in the manifest&gt;</c>.
    /// </summary>
    public static string UploadKey(PublishRecord publish, int index) =>
        publish.Files[index].Sha256 is { Length: > 0 } sha ? sha : $"file-{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>The file of an open publish an upload key names (<see cref="UploadKey"/>), or null.</summary>
    private static VersionFileRecord? FileOf(PublishRecord publish, string key) =>
        key.StartsWith("file-", StringComparison.Ordinal)
            && int.TryParse(key.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            && index < publish.Files.Count && publish.Files[index].Sha256.Length == 0 && UploadKey(publish, index) == key
            ? publish.Files[index]
            : SafePath.IsSha256(key) ? publish.Files.FirstOrDefault(f => f.Sha256 == key) : null;

    /// <summary>The open publish's file a signed upload URL names, or why the URL is refused.</summary>
    private PublishResult<VersionFileRecord> UploadTarget(string publishId, string key, long? expires, string? sig)
    {
        if (expires is null || !signer.Verify(publishId, key, expires.Value, sig))
            return PublishResult<VersionFileRecord>.Forbidden("the upload URL's signature is missing or wrong; use the URL the publish start returned");
        if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() > expires)
            return PublishResult<VersionFileRecord>.Gone("the upload URL has expired; start the publish again");
        var publish = db.Publishes.FindById(publishId);
        if (publish is null) return PublishResult<VersionFileRecord>.Gone("the publish has completed or expired; start it again");
        var file = FileOf(publish, key);
        return file is null ? PublishResult<VersionFileRecord>.NotFound("the manifest has no file with this hash") : PublishResult<VersionFileRecord>.Done(file);
    }

    /// <summary>
    /// How many bytes of a file the server has staged (the resumable upload's offset), its declared size, and, once a
    /// file published without a hash is complete, the hash it is stored under.
    /// </summary>
    public PublishResult<UploadOffset> UploadOffset(string publishId, string key, long? expires, string? sig)
    {
        var target = UploadTarget(publishId, key, expires, sig);
        if (target.Status != PublishStatus.Done) return PublishResult<UploadOffset>.From(target);
        var file = target.Value!;
        var offset = files.StagedOffset(publishId, key, file.Size);
        return PublishResult<UploadOffset>.Done(new UploadOffset(offset, file.Size,
            file.Sha256.Length > 0 ? null : offset == file.Size ? files.StagedHash(publishId, key) : null));
    }

    /// <summary>
    /// Appends bytes to a file of an open publish at <paramref name="offset"/>, which must be the server's
    /// offset (else Conflict with the right one); the file is hashed whole when its last byte arrives.
    /// </summary>
    public async Task<PublishResult<UploadOffset>> AppendAsync(string publishId, string key, long? expires, string? sig, long offset, System.IO.Pipelines.PipeReader body, CancellationToken ct)
    {
        var target = UploadTarget(publishId, key, expires, sig);
        if (target.Status != PublishStatus.Done) return PublishResult<UploadOffset>.From(target);
        var file = target.Value!;
        var result = await files.AppendStagedAsync(publishId, key, file.Sha256.Length > 0 ? file.Sha256 : null, file.Size, offset, body, ct);
        var at = new Dictionary<string, object?> { ["path"] = file.Path, ["offset"] = result.Offset };
        return result.Outcome switch
        {
            AppendOutcome.Stored => PublishResult<UploadOffset>.Done(new UploadOffset(result.Offset, file.Size, file.Sha256.Length > 0 ? null : result.Sha256)),
            AppendOutcome.Partial => PublishResult<UploadOffset>.Done(new UploadOffset(result.Offset, file.Size)),
            AppendOutcome.OffsetMismatch or AppendOutcome.Busy => PublishResult<UploadOffset>.Conflict($"'{file.Path}': {result.Detail}; resume at byte {result.Offset}", at),
            AppendOutcome.TooLarge => PublishResult<UploadOffset>.TooLarge("declaredSize", $"'{file.Path}': {result.Detail}"),
            _ => PublishResult<UploadOffset>.Invalid($"'{file.Path}': {result.Detail}; upload it again from byte 0", at),
        };
    }

    /// <summary>
    /// Stages one file of an open publish from a signed upload URL in one request; the declared size is the limit.
    /// A file published without a hash is staged as an append from byte 0.
    /// </summary>
    public async Task<PublishResult<UploadOffset>> UploadAsync(string publishId, string key, long? expires, string? sig, System.IO.Pipelines.PipeReader body, CancellationToken ct)
    {
        var target = UploadTarget(publishId, key, expires, sig);
        if (target.Status != PublishStatus.Done) return PublishResult<UploadOffset>.From(target);
        var file = target.Value!;
        if (file.Sha256.Length == 0)
        {
            var appended = await AppendAsync(publishId, key, expires, sig, 0, body, ct);
            return appended.Status == PublishStatus.Done && appended.Value!.Offset < file.Size
                ? PublishResult<UploadOffset>.Invalid($"'{file.Path}': the upload has {appended.Value.Offset} bytes, the manifest declared {file.Size}; "
                    + $"send the rest with PATCH from byte {appended.Value.Offset}",
                    new Dictionary<string, object?> { ["path"] = file.Path, ["offset"] = appended.Value.Offset })
                : appended;
        }

        var result = await files.StageAsync(publishId, key, file.Size, body, ct);
        return result.Outcome switch
        {
            StageOutcome.Stored => PublishResult<UploadOffset>.Done(new UploadOffset(file.Size, file.Size)),
            StageOutcome.TooLarge => PublishResult<UploadOffset>.TooLarge("declaredSize", $"'{file.Path}': {result.Detail}"),
            _ => PublishResult<UploadOffset>.Invalid($"'{file.Path}': {result.Detail}; upload it again",
                new Dictionary<string, object?> { ["path"] = file.Path }),
        };
    }

    /// <summary>Checks every file is there, records the version and queues its image build.</summary>
    public async Task<PublishResult<PublishCompleted>> CompleteAsync(string publishId, Caller caller, CancellationToken ct)
    {
        var publish = db.Publishes.FindById(publishId);
        if (publish is null || publish.Kind != PublishKinds.Model || (publish.Publisher != caller.Username && !caller.IsAdmin))
            return PublishResult<PublishCompleted>.NotFound($"no open publish '{publishId}' (it may have completed or expired)");
        if (publish.ExpiresAt < DateTime.UtcNow)
            return PublishResult<PublishCompleted>.Gone("the publish has expired; start it again");

        return await FinishAsync(publish, sha => models.CallerHolds(sha, caller), () =>
        {
            using var metadata = JsonDocument.Parse(publish.MetadataJson);
            var root = metadata.RootElement;
            var (model, version) = db.InTransaction(() => Record(publish, root));
            builds.Enqueue(version.Id);
            return PublishResult<PublishCompleted>.Done(new PublishCompleted(model.Owner, model.Name,
                new VersionRef(version.Number, version.CreatedAt, version.ImageStatus),
                $"/api/models/{model.Owner}/{model.Name}/versions/{version.Number}"));
        }, ct);
    }

    /// <summary>
    /// The publisher's unexpired open publish of owner/name with exactly this manifest (and, for files without a hash,
    /// the same modification times), if any.
    /// </summary>
    private PublishRecord? OpenPublish(string owner, string name, string publisher, List<VersionFileRecord> files,
        List<FileStamp> modified, DateTime now) =>
        db.Publishes.Find(p => p.Owner == owner && p.Name == name && p.Publisher == publisher)
            .Where(p => p.ExpiresAt > now && p.Kind == PublishKinds.Model)
            .OrderByDescending(p => p.CreatedAt)
            .FirstOrDefault(p => p.Files.Count == files.Count && p.Modified.Count == modified.Count
                && p.Modified.Zip(modified).All(m => m.First.Path == m.Second.Path && m.First.Ticks == m.Second.Ticks) && p.Files.Zip(files).All(pair =>
                pair.First.Path == pair.Second.Path && pair.First.Sha256 == pair.Second.Sha256 && pair.First.Size == pair.Second.Size && pair.First.Kind == pair.Second.Kind));

    /// <summary>
    /// Null when the metadata's Python (the Python 'feather inspect' ran with) is the runner image's
    /// (Runner:PythonVersion), else why the version could not be built.
    /// </summary>
    private string? PythonMismatch(JsonElement metadata)
    {
        var runner = runnerOptions.Value.PythonVersion;
        var declared = MetadataValidator.Str(metadata.GetProperty("environment"), "python");
        if (string.IsNullOrEmpty(runner) || declared is null || declared == runner) return null;
        return $"the model declares Python {declared} (the Python its metadata was made with), but this server's runner image has Python {runner}, "
            + $"so its environment cannot be built: publish it from Python {runner} (FEATHER_PYTHON=python{runner} feather publish), "
            + $"or ask the administrator for a runner image with Python {declared} (Runner:PythonVersion)";
    }

    /// <summary>Records the next version through the model store and closes the publish (inside one transaction).</summary>
    private (ModelRecord, VersionRecord) Record(PublishRecord publish, JsonElement metadata)
    {
        var env = metadata.GetProperty("environment");
        var recorded = models.AddVersion(new NewVersion(
            publish.Owner, publish.Name, publish.Visibility, publish.Promote, publish.Publisher, publish.Notes,
            publish.MetadataJson, publish.Files,
            new EnvironmentRecord
            {
                RunnerImage = options.RunnerBaseImage, Profile = MetadataValidator.Str(metadata, "profile")!,
                Python = MetadataValidator.Str(env, "python")!,
                SystemPackages = env.GetProperty("system_packages").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToList(),
                PythonPackages = env.GetProperty("python_packages").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToList(),
            }));
        db.Publishes.Delete(publish.Id);
        return recorded;
    }

    // ---- The parts shared by every kind of publish (models here, datasets in Datasets/DatasetPublisher) ----

    /// <summary>
    /// Null when every entry of a file manifest is acceptable (safe path listed once, SHA-256, size, one of
    /// <paramref name="kinds"/>) and within the limits on files per version and bytes; else the refusal.
    /// <paramref name="hashOptional"/>: a file may come without a SHA-256 (then with its modification time).
    /// </summary>
    public PublishResult<bool>? CheckFiles(ManifestFile[] manifest, string[] kinds, bool hashOptional = false)
    {
        if (manifest.Length > options.MaxFilesPerVersion)
            return PublishResult<bool>.TooLarge("maxFilesPerVersion", $"the manifest lists {manifest.Length} files; at most {options.MaxFilesPerVersion} are allowed (FEATHER_MAX_FILES)");
        var fileErrors = new Dictionary<string, string[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < manifest.Length; i++)
        {
            var f = manifest[i];
            var problems = new List<string>();
            if (ManifestPath.Problem(f.Path) is { } p) problems.Add(p);
            else if (!seen.Add(f.Path!)) problems.Add($"'{f.Path}' is listed twice");
            if (f.Sha256 is null && hashOptional)
            {
                if (f.Modified is null) problems.Add("a file without 'sha256' needs 'modified' (its last modification time)");
            }
            else if (!SafePath.IsSha256(f.Sha256?.ToLowerInvariant())) problems.Add("'sha256' must be 64 hex digits");
            if (f.Size < 0) problems.Add("'size' cannot be negative");
            if (!kinds.Contains(f.Kind)) problems.Add($"'kind' must be {string.Join(" or ", kinds.Select(k => $"'{k}'"))}");
            if (problems.Count > 0) fileErrors[$"files/{i}"] = [.. problems];
        }
        if (fileErrors.Count > 0) return PublishResult<bool>.Invalid("the file manifest is not valid", fileErrors);
        if (manifest.FirstOrDefault(f => f.Size > options.MaxFileBytes) is { } big)
            return PublishResult<bool>.TooLarge("maxFileBytes", $"'{big.Path}' has {big.Size} bytes; the largest file allowed has {options.MaxFileBytes} bytes (FEATHER_MAX_FILE_BYTES)");
        var total = manifest.Sum(f => f.Size);
        if (total > options.MaxTotalBytes)
            return PublishResult<bool>.TooLarge("maxTotalBytes", $"the files add up to {total} bytes; a version may hold at most {options.MaxTotalBytes} bytes (FEATHER_MAX_TOTAL_BYTES)");
        return null;
    }

    /// <summary>
    /// Opens a publish: stores it and answers one signed upload URL per file the blob store lacks or the caller
    /// does not already hold (<paramref name="callerHolds"/>: content-addressed dedup that never lends out
    /// someone else's file), and the paths of those it may skip.
    /// </summary>
    public async Task<(UploadSlot[] Uploads, string[] AlreadyStored)> OpenAsync(
        PublishRecord record, Func<string, bool> callerHolds, string requestBaseUrl, CancellationToken ct)
    {
        // a publish started again with the same manifest keeps its id (and its staged bytes): upsert
        db.Publishes.Upsert(record);
        var baseUrl = options.PublicUrl ?? requestBaseUrl;
        var expires = new DateTimeOffset(record.ExpiresAt).ToUnixTimeSeconds();
        var uploads = new List<UploadSlot>();
        var stored = new List<string>();
        for (var i = 0; i < record.Files.Count; i++)
        {
            var f = record.Files[i];
            var key = UploadKey(record, i);
            if (f.Sha256.Length > 0 && await blobs.ExistsAsync(f.Sha256, ct) && callerHolds(f.Sha256)) stored.Add(f.Path);
            else uploads.Add(new UploadSlot(f.Path, $"{baseUrl}/api/uploads/{record.Id}/{key}?expires={expires}&sig={signer.Sign(record.Id, key, expires)}"));
        }
        return ([.. uploads], [.. stored]);
    }

    /// <summary>The paths of the publish's files that are neither staged nor already held by the caller.</summary>
    public async Task<List<string>> MissingAsync(PublishRecord publish, Func<string, bool> callerHolds, CancellationToken ct)
    {
        var missing = new List<string>();
        for (var i = 0; i < publish.Files.Count; i++)
        {
            var f = publish.Files[i];
            if (f.Sha256.Length == 0 ? files.StagedHash(publish.Id, UploadKey(publish, i)) is null
                : !files.IsStaged(publish.Id, f.Sha256) && !(await files.ExistsAsync(f.Sha256, ct) && callerHolds(f.Sha256)))
                missing.Add(f.Path);
        }
        return missing;
    }

    /// <summary>
    /// Completes a publish: checks every file is there, then (one completion at a time) moves the staged files
    /// into the blob store and runs <paramref name="record"/>, which records the object and closes the publish.
    /// </summary>
    public async Task<PublishResult<T>> FinishAsync<T>(PublishRecord publish, Func<string, bool> callerHolds, Func<PublishResult<T>> record, CancellationToken ct)
    {
        var missing = await MissingAsync(publish, callerHolds, ct);
        if (missing.Count > 0)
            return PublishResult<T>.Conflict($"{missing.Count} file(s) have not been uploaded: {string.Join(", ", missing)}",
                new Dictionary<string, object?> { ["missing"] = missing });

        await _completeLock.WaitAsync(ct);
        try
        {
            // a second complete of the same publish waited for the first: it has nothing left to record
            if (db.Publishes.FindById(publish.Id) is null)
                return PublishResult<T>.NotFound($"no open publish '{publish.Id}' (it has just completed)");
            // the files published without a hash are named by what the server received
            for (var i = 0; i < publish.Files.Count; i++)
                if (publish.Files[i].Sha256.Length == 0)
                {
                    var key = UploadKey(publish, i);
                    var sha = files.StagedHash(publish.Id, key)!;
                    files.Commit(publish.Id, sha, key);
                    publish.Files[i].Sha256 = sha;
                }
            foreach (var sha in publish.Files.Select(f => f.Sha256).Distinct())
                if (files.IsStaged(publish.Id, sha)) files.Commit(publish.Id, sha);
            var result = record();
            files.DeleteStaging(publish.Id);
            return result;
        }
        finally
        {
            _completeLock.Release();
        }
    }
}

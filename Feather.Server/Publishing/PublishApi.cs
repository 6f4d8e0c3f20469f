using System.Text.Json;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Feather.Server.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Publishing;

/// <summary>
/// The publishing protocol: start (metadata + manifest → signed upload URLs for the files not yet
/// stored), upload (each file streamed to staging, checked as it arrives), complete (every file
/// checked, then one version recorded and the files moved into the blob store).
/// </summary>
public static class PublishApi
{
    private static readonly SemaphoreSlim CompleteLock = new(1, 1);

    public static WebApplicationBuilder AddPublishing(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<MetadataValidator>();
        builder.Services.AddSingleton<UploadSigner>();
        builder.Services.AddHostedService<PublishSweeper>();
        return builder;
    }

    public static IEndpointRouteBuilder MapPublishing(this IEndpointRouteBuilder app)
    {
        var publish = app.MapGroup("/api/publish").WithTags("Publishing").WithProblems(400, 401, 403, 404, 409, 410, 413).RequireAuthorization(AuthApi.Policies.Publish);
        publish.MapPost("/", StartAsync);
        publish.MapPost("/{publishId}/complete", CompleteAsync);

        // The signed URL is the credential: no bearer token is needed to upload.
        app.MapPut("/api/uploads/{publishId}/{sha256}", UploadAsync).WithTags("Publishing").AllowAnonymous()
            .Accepts<Stream>("application/octet-stream").ProducesProblem(400).ProducesProblem(403).ProducesProblem(410).ProducesProblem(413);
        return app;
    }

    [EndpointName("startPublish"), EndpointSummary("Start publishing a version")]
    private static async Task<Results<Created<PublishStarted>, ProblemHttpResult>> StartAsync(
        StartPublishRequest request, HttpContext http, FeatherOptions options, MetadataValidator validator,
        ModelStore models, Accounts accounts, FeatherDb db, IBlobStore blobs, UploadSigner signer, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        if (request.Metadata.ValueKind == JsonValueKind.Undefined)
            return Problems.BadRequest("the body needs 'metadata' (the output of 'python3 -m feather inspect') and 'files'");
        var errors = validator.Validate(request.Metadata);
        if (errors.Count == 0 && http.RequestServices.GetService<IProfilePolicy>()?.Refuse(
                MetadataValidator.Str(request.Metadata, "profile")!) is { } refusal)
            errors["metadata/profile"] = [refusal];
        if (errors.Count > 0)
            return Problems.Validation($"the model metadata is not valid ({errors.Count} problem(s))", errors);

        var files = request.Files ?? [];
        if (files.Length == 0) return Problems.BadRequest("'files' is empty: a version needs at least its model file");
        if (files.Length > options.MaxFilesPerVersion)
            return Problems.TooLarge("maxFilesPerVersion", $"the manifest lists {files.Length} files; at most {options.MaxFilesPerVersion} are allowed (FEATHER_MAX_FILES)");
        var fileErrors = new Dictionary<string, string[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < files.Length; i++)
        {
            var f = files[i];
            var problems = new List<string>();
            if (ManifestPath.Problem(f.Path) is { } p) problems.Add(p);
            else if (!seen.Add(f.Path!)) problems.Add($"'{f.Path}' is listed twice");
            if (!SafePath.IsSha256(f.Sha256?.ToLowerInvariant())) problems.Add("'sha256' must be 64 hex digits");
            if (f.Size < 0) problems.Add("'size' cannot be negative");
            if (f.Kind is not ("code" or "model")) problems.Add("'kind' must be 'code' or 'model'");
            if (problems.Count > 0) fileErrors[$"files/{i}"] = [.. problems];
        }
        if (fileErrors.Count > 0) return Problems.Validation("the file manifest is not valid", fileErrors);
        if (files.FirstOrDefault(f => f.Size > options.MaxFileBytes) is { } big)
            return Problems.TooLarge("maxFileBytes", $"'{big.Path}' has {big.Size} bytes; the largest file allowed has {options.MaxFileBytes} bytes (FEATHER_MAX_FILE_BYTES)");
        var total = files.Sum(f => f.Size);
        if (total > options.MaxTotalBytes)
            return Problems.TooLarge("maxTotalBytes", $"the files add up to {total} bytes; a version may hold at most {options.MaxTotalBytes} bytes (FEATHER_MAX_TOTAL_BYTES)");

        var metadata = request.Metadata;
        var entrypoint = MetadataValidator.Str(metadata, "entrypoint")!;
        var missing = new List<string> { entrypoint };
        var bundle = metadata.GetProperty("bundle");
        foreach (var key in new[] { "code", "model" })
            missing.AddRange(bundle.GetProperty(key).EnumerateArray().Select(e => e.GetString()!));
        var notListed = missing.Distinct().Where(p => !seen.Contains(p)).ToArray();
        if (notListed.Length > 0)
            return Problems.BadRequest($"the metadata names files the manifest does not list: {string.Join(", ", notListed)}");

        if (request.Visibility is not null && !Visibility.All.Contains(request.Visibility))
            return Problems.BadRequest($"'visibility' must be one of {string.Join(", ", Visibility.All)}");

        var name = MetadataValidator.Str(metadata, "name")!;
        var owner = request.Owner ?? caller.Username!;
        if (!accounts.NameTaken(owner)) return Problems.NotFound($"no user or team named '{owner}'");
        if (!models.CanPublishAs(owner, caller))
            return Problems.Forbidden($"you cannot publish as '{owner}': publish as yourself or as a team you belong to");
        var existing = models.Find(owner, name);
        if (existing is not null && !models.CanWrite(existing, caller))
            return Problems.Forbidden($"you cannot publish new versions of {owner}/{name}");

        var now = DateTime.UtcNow;
        var record = new PublishRecord
        {
            Id = Ids.New(), Owner = owner, Name = name, Publisher = caller.Username!,
            MetadataJson = metadata.GetRawText(), Notes = request.Notes, Visibility = request.Visibility,
            Promote = request.Promote ?? true, CreatedAt = now, ExpiresAt = now.AddSeconds(options.PublishTtlSeconds),
            Files = files.Select(f => new VersionFileRecord { Path = f.Path!, Sha256 = f.Sha256!.ToLowerInvariant(), Size = f.Size, Kind = f.Kind! }).ToList(),
        };
        db.Publishes.Insert(record);

        var baseUrl = options.PublicUrl ?? $"{http.Request.Scheme}://{http.Request.Host}";
        var expires = new DateTimeOffset(record.ExpiresAt).ToUnixTimeSeconds();
        var uploads = new List<UploadSlot>();
        var stored = new List<string>();
        foreach (var f in record.Files)
        {
            // content-addressed: a file already in a version of the caller's is not uploaded again
            if (await blobs.ExistsAsync(f.Sha256, ct) && models.CallerHolds(f.Sha256, caller)) stored.Add(f.Path);
            else uploads.Add(new UploadSlot(f.Path,
                $"{baseUrl}/api/uploads/{record.Id}/{f.Sha256}?expires={expires}&sig={signer.Sign(record.Id, f.Sha256, expires)}"));
        }
        return TypedResults.Created($"/api/publish/{record.Id}",
            new PublishStarted(record.Id, owner, name, record.ExpiresAt, [.. uploads], [.. stored]));
    }

    [EndpointName("uploadFile"), EndpointSummary("Upload one file of a publish")]
    private static async Task<Results<NoContent, ProblemHttpResult>> UploadAsync(
        string publishId, string sha256, long? expires, string? sig, HttpContext http,
        UploadSigner signer, FeatherDb db, FileSystemBlobStore blobs, CancellationToken ct)
    {
        if (expires is null || !signer.Verify(publishId, sha256, expires.Value, sig))
            return Problems.Forbidden("the upload URL's signature is missing or wrong; use the URL the publish start returned");
        if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() > expires)
            return Problems.Gone("the upload URL has expired; start the publish again");
        var publish = db.Publishes.FindById(publishId);
        if (publish is null) return Problems.Gone("the publish has completed or expired; start it again");
        var file = publish.Files.FirstOrDefault(f => f.Sha256 == sha256);
        if (file is null) return Problems.NotFound("the manifest has no file with this hash");

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null; // the declared size is the limit, enforced while streaming
        var result = await blobs.StageAsync(publishId, sha256, file.Size, http.Request.Body, ct);
        return result.Outcome switch
        {
            StageOutcome.Stored => TypedResults.NoContent(),
            StageOutcome.TooLarge => Problems.TooLarge("declaredSize", $"'{file.Path}': {result.Detail}"),
            _ => Problems.BadRequest($"'{file.Path}': {result.Detail}; upload it again",
                new Dictionary<string, object?> { ["path"] = file.Path }),
        };
    }

    [EndpointName("completePublish"), EndpointSummary("Complete a publish")]
    private static async Task<Results<Created<PublishCompleted>, ProblemHttpResult>> CompleteAsync(
        string publishId, HttpContext http, FeatherDb db, FileSystemBlobStore blobs, ModelStore models,
        ImageBuildQueue builds, FeatherOptions options, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var publish = db.Publishes.FindById(publishId);
        if (publish is null || (publish.Publisher != caller.Username && !caller.IsAdmin))
            return Problems.NotFound($"no open publish '{publishId}' (it may have completed or expired)");
        if (publish.ExpiresAt < DateTime.UtcNow)
            return Problems.Gone("the publish has expired; start it again");

        var missing = new List<string>();
        foreach (var f in publish.Files)
            if (!blobs.IsStaged(publishId, f.Sha256) && !(await blobs.ExistsAsync(f.Sha256, ct) && models.CallerHolds(f.Sha256, caller)))
                missing.Add(f.Path);
        if (missing.Count > 0)
            return Problems.Conflict($"{missing.Count} file(s) have not been uploaded: {string.Join(", ", missing)}",
                new Dictionary<string, object?> { ["missing"] = missing });

        await CompleteLock.WaitAsync(ct);
        try
        {
            // a second complete of the same publish waited for the first: it has nothing left to record
            if (db.Publishes.FindById(publishId) is null)
                return Problems.NotFound($"no open publish '{publishId}' (it has just completed)");
            foreach (var sha in publish.Files.Select(f => f.Sha256).Distinct())
                if (blobs.IsStaged(publishId, sha)) blobs.Commit(publishId, sha);

            using var metadata = JsonDocument.Parse(publish.MetadataJson);
            var root = metadata.RootElement;
            var (model, version) = db.InTransaction(() => Record(publish, root, models, db, options.RunnerBaseImage));
            blobs.DeleteStaging(publishId);
            builds.Enqueue(version.Id);
            return TypedResults.Created($"/api/models/{model.Owner}/{model.Name}/versions/{version.Number}",
                new PublishCompleted(model.Owner, model.Name,
                    new VersionRef(version.Number, version.CreatedAt, version.ImageStatus),
                    $"/api/models/{model.Owner}/{model.Name}/versions/{version.Number}"));
        }
        finally
        {
            CompleteLock.Release();
        }
    }

    /// <summary>Registers the model on first publish and records the next version (inside one transaction).</summary>
    private static (ModelRecord, VersionRecord) Record(PublishRecord publish, JsonElement metadata, ModelStore models, FeatherDb db, string runnerImage)
    {
        var now = DateTime.UtcNow;
        var model = models.Find(publish.Owner, publish.Name);
        if (model is null)
        {
            model = new ModelRecord
            {
                Id = Ids.New(6), Key = $"{publish.Owner}/{publish.Name}", Owner = publish.Owner, Name = publish.Name,
                Visibility = publish.Visibility ?? Visibility.Private, CreatedAt = now,
            };
            db.Models.Insert(model);
        }
        else if (publish.Visibility is not null)
        {
            model.Visibility = publish.Visibility;
        }
        var env = metadata.GetProperty("environment");
        var tags = metadata.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Object ? t : default;
        var version = new VersionRecord
        {
            ModelId = model.Id, Number = model.LatestVersion + 1, MetadataJson = publish.MetadataJson,
            Files = publish.Files, Publisher = publish.Publisher, Notes = publish.Notes, CreatedAt = now,
            Environment = new EnvironmentRecord
            {
                RunnerImage = runnerImage, Profile = MetadataValidator.Str(metadata, "profile")!,
                Python = MetadataValidator.Str(env, "python")!,
                SystemPackages = env.GetProperty("system_packages").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToList(),
                PythonPackages = env.GetProperty("python_packages").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal).ToList(),
            },
        };
        version.Id = $"{model.Id}-{version.Number}";
        model.LatestVersion = version.Number;
        model.Description = MetadataValidator.Str(metadata, "description") ?? "";
        model.TaskTags = tags.ValueKind == JsonValueKind.Object ? MetadataValidator.StringArray(tags, "task", "", (_, _) => { }, false) : [];
        model.DatasetTags = tags.ValueKind == JsonValueKind.Object ? MetadataValidator.StringArray(tags, "dataset", "", (_, _) => { }, false) : [];
        if (publish.Promote || model.LiveVersion is null)
        {
            if (model.LiveVersion is { } previous) model.LiveHistory.Add(previous);
            model.LiveVersion = version.Number;
        }
        db.Versions.Insert(version);
        models.Save(model);
        db.Publishes.Delete(publish.Id);
        return (model, version);
    }
}

using System.Text.Json;
using Feather.Datasets;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Publishing;
using Microsoft.AspNetCore.Http.HttpResults;
using FileInfo = Feather.Contracts.FileInfo;

namespace Feather.Server.Datasets;

/// <summary>
/// Datasets (docs/datasets.md): publishing a version through the models' upload protocol, the catalogue, a
/// dataset with its versions and example records, one version, one file of a version, and changing the
/// visibility or description. Private datasets are 404 to those who may not write them.
/// </summary>
public static class DatasetsApi
{
    public static WebApplicationBuilder AddDatasets(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DatasetStore>();
        builder.Services.AddSingleton<DatasetPublisher>();
        return builder;
    }

    public static IEndpointRouteBuilder MapDatasets(this IEndpointRouteBuilder app)
    {
        var publish = app.MapGroup("").WithTags("Datasets").WithProblems(400, 401, 403, 404, 409, 410, 413).RequireAuthorization(AuthApi.Policies.Publish);
        publish.MapPost(Routes.DatasetPublish, StartAsync);
        publish.MapPost(Routes.DatasetPublishComplete, CompleteAsync);

        var datasets = app.MapGroup("").WithTags("Datasets").WithProblems();
        datasets.MapGet(Routes.Datasets, List).RequireAuthorization(AuthApi.Policies.Browse);
        datasets.MapGet(Routes.Dataset, Get).RequireAuthorization(AuthApi.Policies.Browse);
        datasets.MapPatch(Routes.Dataset, Update).RequireAuthorization(AuthApi.Policies.Publish);
        datasets.MapGet(Routes.DatasetVersions, ListVersions).RequireAuthorization(AuthApi.Policies.Browse);
        datasets.MapGet(Routes.DatasetVersion, GetVersion).RequireAuthorization(AuthApi.Policies.Browse);
        datasets.MapGet(Routes.DatasetFile, GetFileAsync).RequireAuthorization(AuthApi.Policies.Browse);
        return app;
    }

    [EndpointName("startDatasetPublish"), EndpointSummary("Start publishing a dataset version")]
    private static async Task<Results<Created<DatasetPublishStarted>, ProblemHttpResult>> StartAsync(
        StartDatasetPublishRequest request, HttpContext http, DatasetPublisher publisher, CancellationToken ct)
    {
        var result = await publisher.StartAsync(request, Caller.From(http.User), $"{http.Request.Scheme}://{http.Request.Host}", ct);
        return result.Status == PublishStatus.Done
            ? TypedResults.Created(Routes.Expand(Routes.DatasetPublishComplete, result.Value!.PublishId), result.Value)
            : PublishApi.Problem(result);
    }

    [EndpointName("completeDatasetPublish"), EndpointSummary("Complete a dataset publish: check every record, record the version")]
    private static async Task<Results<Created<DatasetPublishCompleted>, ProblemHttpResult>> CompleteAsync(
        string publishId, HttpContext http, DatasetPublisher publisher, CancellationToken ct)
    {
        var result = await publisher.CompleteAsync(publishId, Caller.From(http.User), ct);
        return result.Status == PublishStatus.Done ? TypedResults.Created(result.Value!.Url, result.Value) : PublishApi.Problem(result);
    }

    /// <summary>Public datasets, plus the caller's own and their teams'; filters are case-insensitive.</summary>
    [EndpointName("listDatasets"), EndpointSummary("List the datasets you can see")]
    private static Ok<DatasetSummary[]> List(string? task, string? q, string? owner, HttpContext http, DatasetStore store)
    {
        var caller = Caller.From(http.User);
        var found = store.All().Where(d => store.IsListed(d, caller));
        if (!string.IsNullOrWhiteSpace(task)) found = found.Where(d => string.Equals(d.Task, task, StringComparison.OrdinalIgnoreCase));
        if (!string.IsNullOrWhiteSpace(q))
            found = found.Where(d => d.Name.Contains(q, StringComparison.OrdinalIgnoreCase) || d.Description.Contains(q, StringComparison.OrdinalIgnoreCase) ||
                                     (d.Title ?? "").Contains(q, StringComparison.OrdinalIgnoreCase));
        if (!string.IsNullOrWhiteSpace(owner)) found = found.Where(d => d.Owner == owner);
        return TypedResults.Ok(found.OrderBy(d => d.Key, StringComparer.Ordinal)
            .Select(d => new DatasetSummary(d.Owner, d.Name, d.Title, d.Description, d.Task, d.Visibility, d.LatestVersion, d.RecordCount, d.UpdatedAt, d.Split))
            .ToArray());
    }

    [EndpointName("getDataset"), EndpointSummary("Get a dataset: its versions, fields and a few example records")]
    private static Results<Ok<DatasetDetail>, ProblemHttpResult> Get(string owner, string dataset, HttpContext http, DatasetStore store)
    {
        var found = Readable(owner, dataset, http, store);
        return found is null ? NotFound(owner, dataset) : TypedResults.Ok(ToDetail(found, store));
    }

    [EndpointName("updateDataset"), EndpointSummary("Change a dataset's description or visibility")]
    private static Results<Ok<DatasetDetail>, ProblemHttpResult> Update(
        string owner, string dataset, UpdateDatasetRequest request, HttpContext http, DatasetStore store)
    {
        var change = store.Update(owner, dataset, Caller.From(http.User), request.Visibility, request.Description);
        return change.Status switch
        {
            DatasetChangeStatus.Changed => TypedResults.Ok(ToDetail(change.Dataset!, store)),
            DatasetChangeStatus.NotFound => NotFound(owner, dataset),
            DatasetChangeStatus.Forbidden => Problems.Forbidden($"only the owner of the dataset {owner}/{dataset} (or its team) can change it"),
            DatasetChangeStatus.UnknownVisibility => Problems.BadRequest($"'visibility' must be one of {string.Join(", ", Models.Visibility.All)}"),
            _ => throw new ArgumentOutOfRangeException(nameof(request), change.Status, "unknown dataset change status"),
        };
    }

    [EndpointName("listDatasetVersions"), EndpointSummary("List a dataset's versions")]
    private static Results<Ok<DatasetVersionSummary[]>, ProblemHttpResult> ListVersions(string owner, string dataset, HttpContext http, DatasetStore store)
    {
        var found = Readable(owner, dataset, http, store);
        return found is null ? NotFound(owner, dataset) : TypedResults.Ok(store.Versions(found.Id).Select(ToSummary).ToArray());
    }

    [EndpointName("getDatasetVersion"), EndpointSummary("Get one version of a dataset")]
    private static Results<Ok<DatasetVersionDetail>, ProblemHttpResult> GetVersion(string owner, string dataset, int number, HttpContext http, DatasetStore store)
    {
        var found = Readable(owner, dataset, http, store);
        if (found is null) return NotFound(owner, dataset);
        var version = store.FindVersion(found.Id, number);
        if (version is null) return Problems.NotFound($"the dataset {owner}/{dataset} has no version {number}");
        var manifest = Manifest(version);
        return TypedResults.Ok(new DatasetVersionDetail(found.Owner, found.Name, version.Number, version.CreatedAt, version.Publisher, version.Notes,
            manifest.Title, manifest.Description, manifest.Task, manifest.Licence, manifest.Citation, version.Records, version.RecordCount,
            Fields(manifest), Examples(version), version.Files.Select(f => new FileInfo(f.Path, f.Sha256, f.Size, f.Kind)).ToArray()));
    }

    /// <summary>
    /// One file of a version by its path (thumbnails in the portal). Images are served as images; any other file
    /// as a download, so a dataset's HTML or SVG never runs on the portal's origin.
    /// </summary>
    [EndpointName("getDatasetFile"), EndpointSummary("Get one file of a dataset version")]
    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> GetFileAsync(
        string owner, string dataset, int number, string? path, HttpContext http, DatasetStore store, IBlobStore blobs, CancellationToken ct)
    {
        var found = Readable(owner, dataset, http, store);
        if (found is null) return NotFound(owner, dataset);
        var version = store.FindVersion(found.Id, number);
        if (version is null) return Problems.NotFound($"the dataset {owner}/{dataset} has no version {number}");
        if (string.IsNullOrEmpty(path)) return Problems.BadRequest("give the file's path in the dataset: ?path=images/0001.png");
        var file = version.Files.FirstOrDefault(f => f.Path == path);
        if (file is null) return Problems.NotFound($"version {number} of {owner}/{dataset} has no file '{path}'");
        Stream stream;
        try { stream = await blobs.OpenReadAsync(file.Sha256, ct); }
        catch (FileNotFoundException) { return Problems.NotFound($"the stored copy of '{path}' is missing; publish the dataset again"); }
        http.Response.Headers.CacheControl = "private, max-age=86400, immutable"; // a version never changes
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return ImageTypes.TryGetValue(extension, out var type)
            ? TypedResults.Stream(stream, type, lastModified: version.CreatedAt)
            : TypedResults.Stream(stream, "application/octet-stream", Path.GetFileName(path), version.CreatedAt);
    }

    private static readonly Dictionary<string, string> ImageTypes = new()
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif",
        [".webp"] = "image/webp", [".bmp"] = "image/bmp",
    };

    private static DatasetRecord? Readable(string owner, string dataset, HttpContext http, DatasetStore store)
    {
        var found = store.Find(owner, dataset);
        return found is not null && store.CanRead(found, Caller.From(http.User)) ? found : null;
    }

    private static ProblemHttpResult NotFound(string owner, string dataset) => Problems.NotFound($"no dataset {owner}/{dataset}");

    private static DatasetManifest Manifest(DatasetVersionRecord version)
    {
        using var doc = JsonDocument.Parse(version.ManifestJson);
        return DatasetManifest.Parse(doc.RootElement, ManifestPath.Problem).Manifest
            ?? throw new InvalidOperationException($"the stored manifest of dataset version {version.Id} no longer parses");
    }

    private static DatasetFieldInfo[] Fields(DatasetManifest manifest) =>
        manifest.Fields.Select(f => new DatasetFieldInfo(f.Name, f.Type, f.Role, f.Description, f.Classes)).ToArray();

    private static JsonElement[] Examples(DatasetVersionRecord version)
    {
        using var doc = JsonDocument.Parse(version.ExamplesJson);
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static DatasetVersionSummary ToSummary(DatasetVersionRecord v) => new(v.Number, v.CreatedAt, v.Publisher, v.Notes, v.RecordCount, v.Records);

    private static DatasetDetail ToDetail(DatasetRecord d, DatasetStore store)
    {
        var versions = store.Versions(d.Id).ToList();
        var latest = versions.FirstOrDefault(v => v.Number == d.LatestVersion);
        var manifest = latest is null ? null : Manifest(latest);
        return new DatasetDetail(d.Owner, d.Name, d.Title, d.Description, d.Task, d.Licence, d.Citation, d.Visibility, d.LatestVersion,
            d.RecordCount, manifest is null ? [] : Fields(manifest), latest is null ? [] : Examples(latest),
            versions.Select(ToSummary).ToArray(), d.CreatedAt, d.UpdatedAt, d.Split);
    }
}

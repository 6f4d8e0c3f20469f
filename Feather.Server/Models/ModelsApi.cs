using System.Text.Json;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Environments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using FileInfo = Feather.Contracts.FileInfo;

namespace Feather.Server.Models;

public static class ModelsApi
{
    public static WebApplicationBuilder AddModels(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ModelStore>();
        builder.Services.AddSingleton<ImageBuildQueue>();
        // Until the runner registers its own: without one, versions stay pending and no image is removed.
        builder.Services.TryAddSingleton<IImageBuilder, NoImageBuilder>();
        builder.Services.AddSingleton<IImageKeepList, VersionImageKeepList>();
        builder.Services.AddSingleton<Sandbox.IPreparationReports, VersionPreparationReports>();
        builder.Services.AddSingleton<LiveVersionReleaser>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveVersionReleaser>());
        builder.Services.AddHostedService<ImageBuildWorker>();
        return builder;
    }

    public static IEndpointRouteBuilder MapModels(this IEndpointRouteBuilder app)
    {
        var models = app.MapGroup("").WithTags("Models").WithProblems();
        models.MapGet(Routes.Models, List).RequireAuthorization(AuthApi.Policies.Browse);

                models.MapGet(Routes.Model, Get).RequireAuthorization(AuthApi.Policies.Browse);
        models.MapPatch(Routes.Model, Update).RequireAuthorization(AuthApi.Policies.Publish);
        models.MapGet(Routes.ModelOpenApi, OpenApiDocument).RequireAuthorization(AuthApi.Policies.Browse);
        models.MapGet(Routes.Versions, ListVersions).RequireAuthorization(AuthApi.Policies.Browse);
        models.MapGet(Routes.Version, GetVersion).RequireAuthorization(AuthApi.Policies.Browse);
        models.MapPost(Routes.Live, Promote).RequireAuthorization(AuthApi.Policies.Publish);
        models.MapPost(Routes.Rollback, Rollback).RequireAuthorization(AuthApi.Policies.Publish);
        models.MapPut(Routes.Tag, SetTag).RequireAuthorization(AuthApi.Policies.Publish);
        models.MapDelete(Routes.Tag, DeleteTag).RequireAuthorization(AuthApi.Policies.Publish);
        return app;
    }

    /// <summary>The catalogue: public models, plus the caller's own and their teams'. Filters are case-insensitive.</summary>
    [EndpointName("listModels"), EndpointSummary("List the models you can see")]
    private static Ok<ModelSummary[]> List(string? q, string? task, string? dataset, string? owner, HttpContext http, ModelStore store)
    {
        var caller = Caller.From(http.User);
        var found = store.All().Where(m => m.LiveVersion is not null && store.IsListed(m, caller));
        if (!string.IsNullOrWhiteSpace(q))
            found = found.Where(m => m.Name.Contains(q, StringComparison.OrdinalIgnoreCase) ||
                                     m.Description.Contains(q, StringComparison.OrdinalIgnoreCase) ||
                                     m.TaskTags.Concat(m.DatasetTags).Any(t => t.Contains(q, StringComparison.OrdinalIgnoreCase)));
        if (!string.IsNullOrWhiteSpace(task)) found = found.Where(m => m.TaskTags.Contains(task, StringComparer.OrdinalIgnoreCase));
        if (!string.IsNullOrWhiteSpace(dataset)) found = found.Where(m => m.DatasetTags.Contains(dataset, StringComparer.OrdinalIgnoreCase));
        if (!string.IsNullOrWhiteSpace(owner)) found = found.Where(m => m.Owner == owner);
        return TypedResults.Ok(found.OrderBy(m => m.Key, StringComparer.Ordinal).Select(ToSummary).ToArray());
    }

    [EndpointName("getModel"), EndpointSummary("Get a model")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> Get(string owner, string model, HttpContext http, ModelStore store)
    {
        var found = Readable(owner, model, http, store);
        return found is null ? NotFound(owner, model) : TypedResults.Ok(ToDetail(found, store));
    }

    [EndpointName("updateModel"), EndpointSummary("Change a model's description, tags or visibility")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> Update(
        string owner, string model, UpdateModelRequest request, HttpContext http, ModelStore store) =>
        Answer(store.Update(owner, model, Caller.From(http.User), request.Visibility, request.Description), owner, model, null, store);

    [EndpointName("listVersions"), EndpointSummary("List a model's versions")]
    private static Results<Ok<VersionSummary[]>, ProblemHttpResult> ListVersions(string owner, string model, HttpContext http, ModelStore store)
    {
        var found = Readable(owner, model, http, store);
        return found is null ? NotFound(owner, model) : TypedResults.Ok(store.Versions(found.Id).Select(v => ToSummary(found, v)).ToArray());
    }

    [EndpointName("getVersion"), EndpointSummary("Get a version by number or tag")]
    private static Results<Ok<VersionDetail>, ProblemHttpResult> GetVersion(
        string owner, string model, string reference, HttpContext http, ModelStore store)
    {
        var found = Readable(owner, model, http, store);
        if (found is null) return NotFound(owner, model);
        var number = store.Resolve(found, reference);
        var version = number is null ? null : store.FindVersion(found.Id, number.Value);
        if (version is null) return Problems.NotFound($"{owner}/{model} has no version or tag '{reference}'");
        // the build log is for those who publish the model; readers see the status and the error
        return TypedResults.Ok(ToDetail(found, version, withLog: store.CanWrite(found, Caller.From(http.User))));
    }

    /// <summary>Makes a version (number or tag) the live one; the previous live version is remembered for rollback.</summary>
    [EndpointName("promoteVersion"), EndpointSummary("Make a version live")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> Promote(
        string owner, string model, VersionChoice request, HttpContext http, ModelStore store) =>
        Answer(store.Promote(owner, model, Caller.From(http.User), request.Version), owner, model, null, store);

    [EndpointName("rollbackVersion"), EndpointSummary("Roll back to the previous live version")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> Rollback(string owner, string model, HttpContext http, ModelStore store) =>
        Answer(store.Rollback(owner, model, Caller.From(http.User)), owner, model, null, store);

    [EndpointName("setTag"), EndpointSummary("Point a tag at a version")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> SetTag(
        string owner, string model, string tag, VersionChoice request, HttpContext http, ModelStore store) =>
        Answer(store.SetTag(owner, model, Caller.From(http.User), tag, request.Version), owner, model, tag, store);

    [EndpointName("deleteTag"), EndpointSummary("Remove a tag")]
    private static Results<Ok<ModelDetail>, ProblemHttpResult> DeleteTag(string owner, string model, string tag, HttpContext http, ModelStore store) =>
        Answer(store.DeleteTag(owner, model, Caller.From(http.User), tag), owner, model, tag, store);

    /// <summary>The HTTP answer to a model change: the model as it now is, or the problem that stopped it.</summary>
    private static Results<Ok<ModelDetail>, ProblemHttpResult> Answer(ModelChange change, string owner, string model, string? tag, ModelStore store) =>
        change.Status switch
        {
            ModelChangeStatus.Changed or ModelChangeStatus.Unchanged => TypedResults.Ok(ToDetail(change.Model!, store)),
            ModelChangeStatus.NotFound => NotFound(owner, model),
            ModelChangeStatus.Forbidden => Problems.Forbidden($"only the owner of {owner}/{model} (or its team) can change it"),
            ModelChangeStatus.UnknownVisibility => Problems.BadRequest($"'visibility' must be one of {string.Join(", ", Visibility.All)}"),
            ModelChangeStatus.UnknownVersion =>
                Problems.BadRequest($"'version' must be a version number (1-{change.Model!.LatestVersion}) or a tag of {owner}/{model}"),
            ModelChangeStatus.InvalidTagName =>
                Problems.BadRequest("a tag is 1-32 lowercase letters, digits, '-' or '.', starting with a letter, and not 'live'"),
            ModelChangeStatus.UnknownTag => Problems.NotFound($"{owner}/{model} has no tag '{tag}'"),
            ModelChangeStatus.NoEarlierLiveVersion => Problems.Conflict($"{owner}/{model} has no earlier live version to roll back to"),
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Status, "unknown model change status"),
        };

    /// <summary>The OpenAPI document of a version (live by default; ?version=3 or ?version=stable).</summary>
    [EndpointName("getModelOpenApi"), EndpointSummary("Get the OpenAPI document of a model version")]
    private static Results<JsonHttpResult<System.Text.Json.Nodes.JsonObject>, ProblemHttpResult> OpenApiDocument(
        string owner, string model, string? version, HttpContext http, ModelStore store, Configuration.FeatherOptions options)
    {
        var found = Readable(owner, model, http, store);
        if (found is null) return NotFound(owner, model);
        var number = store.Resolve(found, version);
        var record = number is null ? null : store.FindVersion(found.Id, number.Value);
        if (record is null) return Problems.NotFound($"{owner}/{model} has no version or tag '{version ?? "live"}'");
        var baseUrl = options.PublicUrl ?? $"{http.Request.Scheme}://{http.Request.Host}";
        return TypedResults.Json(ModelOpenApi.Build(found, record, baseUrl));
    }

    internal static ModelRecord? Readable(string owner, string model, HttpContext http, ModelStore store)
    {
        var found = store.Find(owner, model);
        return found is not null && store.CanRead(found, Caller.From(http.User)) ? found : null;
    }

    internal static ProblemHttpResult NotFound(string owner, string model) => Problems.NotFound($"no model {owner}/{model}");

    private static ModelSummary ToSummary(ModelRecord m) =>
        new(m.Owner, m.Name, m.Description, m.LiveVersion, m.Visibility, new CatalogueTags([.. m.TaskTags], [.. m.DatasetTags]),
            new Dictionary<string, int>(m.Tags), m.UpdatedAt, m.Title);

    private static VersionSummary ToSummary(ModelRecord m, VersionRecord v) =>
        new(v.Number, v.CreatedAt, v.Publisher, v.Notes, v.ImageStatus, m.LiveVersion == v.Number,
            m.Tags.Where(t => t.Value == v.Number).Select(t => t.Key).Order().ToArray(), v.PreparationStatus, v.PreparationMessage,
            ToLineage(v.Lineage, withLog: false));

    /// <summary>A fine-tuned version's lineage (null for a published one); its log only where the image log is shown.</summary>
    internal static VersionLineage? ToLineage(VersionLineageRecord? l, bool withLog) =>
        l is null ? null : new VersionLineage(l.Job, l.BaseModel, l.BaseVersion, l.Dataset, l.DatasetVersion, Parse(l.ParamsJson),
            new Dictionary<string, double>(l.Metrics), l.RequestedBy, withLog ? l.Logs : "");

    private static ModelDetail ToDetail(ModelRecord m, ModelStore store)
    {
        var versions = store.Versions(m.Id).ToList();
        var live = versions.FirstOrDefault(v => v.Number == m.LiveVersion);
        return new ModelDetail(m.Owner, m.Name, m.Description, m.Visibility, m.LiveVersion, m.LatestVersion,
            new CatalogueTags([.. m.TaskTags], [.. m.DatasetTags]), new Dictionary<string, int>(m.Tags), m.CreatedAt, m.UpdatedAt,
            versions.Select(v => ToSummary(m, v)).ToArray(), live is null ? null : Parse(live.MetadataJson));
    }

    private static VersionDetail ToDetail(ModelRecord m, VersionRecord v, bool withLog) =>
        new(m.Owner, m.Name, v.Number, v.CreatedAt, v.Publisher, v.Notes, m.LiveVersion == v.Number,
            m.Tags.Where(t => t.Value == v.Number).Select(t => t.Key).Order().ToArray(), Parse(v.MetadataJson),
            v.Files.Select(f => new FileInfo(f.Path, f.Sha256, f.Size, f.Kind)).ToArray(),
            new EnvironmentInfo(v.Environment.RunnerImage, v.Environment.Profile, v.Environment.Python,
                [.. v.Environment.SystemPackages], [.. v.Environment.PythonPackages], v.Environment.RunnerImageId),
            new ImageInfo(v.ImageStatus, withLog ? v.ImageLog : "", v.ImageError, v.ImageSeconds, v.EnvironmentImage, v.VersionImage,
                v.ImageStartedAt, v.ImageEndedAt),
            v.PreparationStatus is null ? null : new PreparationInfo(v.PreparationStatus, v.PreparationMessage,
                v.PreparationErrorJson is null ? null : Parse(v.PreparationErrorJson), withLog ? v.PreparationLog ?? "" : "", v.PreparationAt),
            ToLineage(v.Lineage, withLog));

    internal static JsonElement Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

using Feather.Server.Auth;
using Feather.Server.Common;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Feather.Server.Publishing;

/// <summary>
/// The publishing protocol's endpoints: <see cref="PublishService"/> does the work and answers with a
/// <see cref="PublishResult{T}"/>, which these map to 201/204 or to a problem.
/// </summary>
public static class PublishApi
{
    public static WebApplicationBuilder AddPublishing(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<MetadataValidator>();
        builder.Services.TryAddSingleton<IProfilePolicy, AnyProfilePolicy>();
        builder.Services.AddSingleton<UploadSigner>();
        builder.Services.AddSingleton<PublishService>();
        builder.Services.AddHostedService<PublishSweeper>();
        return builder;
    }

    public static IEndpointRouteBuilder MapPublishing(this IEndpointRouteBuilder app)
    {
        var publish = app.MapGroup("").WithTags("Publishing").WithProblems(400, 401, 403, 404, 409, 410, 413).RequireAuthorization(AuthApi.Policies.Publish);
        publish.MapPost(Routes.Publish, StartAsync);
        publish.MapPost(Routes.PublishComplete, CompleteAsync);

        // The signed URL is the credential: no bearer token is needed to upload.
        app.MapPut(Routes.Upload, UploadAsync).WithTags("Publishing").AllowAnonymous()
            .Accepts<Stream>("application/octet-stream").ProducesProblem(400).ProducesProblem(403).ProducesProblem(410).ProducesProblem(413);
        // Resumable uploads (like tus): HEAD answers the bytes staged so far, PATCH appends from there.
        app.MapMethods(Routes.Upload, [HttpMethods.Head], OffsetAsync).WithTags("Publishing").AllowAnonymous()
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(410);
        app.MapPatch(Routes.Upload, ResumeAsync).WithTags("Publishing").AllowAnonymous()
            .Accepts<Stream>("application/offset+octet-stream", "application/octet-stream")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).ProducesProblem(410).ProducesProblem(413);
        return app;
    }

    [EndpointName("startPublish"), EndpointSummary("Start publishing a version")]
    private static async Task<Results<Created<PublishStarted>, ProblemHttpResult>> StartAsync(
        StartPublishRequest request, HttpContext http, PublishService publishing, CancellationToken ct)
    {
        var result = await publishing.StartAsync(request, Caller.From(http.User), $"{http.Request.Scheme}://{http.Request.Host}", ct);
        return result.Status == PublishStatus.Done
            ? TypedResults.Created($"/api/publish/{result.Value!.PublishId}", result.Value)
            : Problem(result);
    }

    [EndpointName("uploadFile"), EndpointSummary("Upload one file of a publish")]
    private static async Task<Results<NoContent, ProblemHttpResult>> UploadAsync(
        string publishId, string file, long? expires, string? sig, HttpContext http, PublishService publishing, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null; // the declared size is the limit, enforced while streaming
        var result = await publishing.UploadAsync(publishId, file, expires, sig, http.Request.BodyReader, ct);
        if (result.Status != PublishStatus.Done) return Problem(result);
        Answer(http, result.Value!);
        return TypedResults.NoContent();
    }

    /// <summary>The header that carries a resumable upload's offset, in requests and answers (as in tus).</summary>
    public const string OffsetHeader = "Upload-Offset";

    /// <summary>The header that names the hash the server stored a file published without one under, once it is complete.</summary>
    public const string Sha256Header = "Upload-Sha256";

    private static void Answer(HttpContext http, UploadOffset upload)
    {
        http.Response.Headers[OffsetHeader] = upload.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (upload.Sha256 is not null) http.Response.Headers[Sha256Header] = upload.Sha256;
    }

    [EndpointName("uploadOffset"), EndpointSummary("Bytes of a file the server has staged (Upload-Offset header)")]
    private static Results<Ok, ProblemHttpResult> OffsetAsync(
        string publishId, string file, long? expires, string? sig, HttpContext http, PublishService publishing)
    {
        http.Response.Headers.CacheControl = "no-store";
        var result = publishing.UploadOffset(publishId, file, expires, sig);
        if (result.Status != PublishStatus.Done) return Problem(result);
        Answer(http, result.Value!);
        http.Response.Headers["Upload-Length"] = result.Value!.Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Ok();
    }

    [EndpointName("resumeUpload"), EndpointSummary("Append to a file's upload from the server's offset")]
    private static async Task<Results<NoContent, ProblemHttpResult>> ResumeAsync(
        string publishId, string file, long? expires, string? sig, HttpContext http, PublishService publishing, CancellationToken ct)
    {
        if (!long.TryParse(http.Request.Headers[OffsetHeader], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var offset))
            return Problems.BadRequest($"the '{OffsetHeader}' header must be the byte the body starts at (ask with HEAD on the upload URL)");
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null; // the declared size is the limit, enforced while streaming
        var result = await publishing.AppendAsync(publishId, file, expires, sig, offset, http.Request.BodyReader, ct);
        if (result.Details?.TryGetValue("offset", out var at) == true)
            http.Response.Headers[OffsetHeader] = Convert.ToString(at, System.Globalization.CultureInfo.InvariantCulture);
        if (result.Status != PublishStatus.Done) return Problem(result);
        Answer(http, result.Value!);
        return TypedResults.NoContent();
    }

    [EndpointName("completePublish"), EndpointSummary("Complete a publish")]
    private static async Task<Results<Created<PublishCompleted>, ProblemHttpResult>> CompleteAsync(
        string publishId, HttpContext http, PublishService publishing, CancellationToken ct)
    {
        var result = await publishing.CompleteAsync(publishId, Caller.From(http.User), ct);
        return result.Status == PublishStatus.Done ? TypedResults.Created(result.Value!.Url, result.Value) : Problem(result);
    }

    /// <summary>The problem answer to a publishing step that did not go through.</summary>
    internal static ProblemHttpResult Problem<T>(PublishResult<T> result) => result.Status switch
    {
        PublishStatus.Invalid when result.Errors is not null => Problems.Validation(result.Message, result.Errors),
        PublishStatus.Invalid => Problems.BadRequest(result.Message, result.Details),
        PublishStatus.TooLarge => Problems.TooLarge(result.Limit!, result.Message),
        PublishStatus.NotFound => Problems.NotFound(result.Message),
        PublishStatus.Forbidden => Problems.Forbidden(result.Message),
        PublishStatus.Gone => Problems.Gone(result.Message),
        PublishStatus.Conflict => Problems.Conflict(result.Message, result.Details),
        _ => throw new ArgumentOutOfRangeException(nameof(result), result.Status, "not a failed publishing step"),
    };
}

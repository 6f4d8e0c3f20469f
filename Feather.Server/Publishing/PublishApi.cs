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
        string publishId, string sha256, long? expires, string? sig, HttpContext http, PublishService publishing, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null; // the declared size is the limit, enforced while streaming
        var result = await publishing.UploadAsync(publishId, sha256, expires, sig, http.Request.Body, ct);
        return result.Status == PublishStatus.Done ? TypedResults.NoContent() : Problem(result);
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

using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Runs;

/// <summary>
/// Step files as streams (docs/api.md, "Step files"): upload a step's input file into its run, download a run's
/// files, and the limits clients check before they send. Only whoever can read the run reaches its files (404
/// for everyone else, as for the run).
/// </summary>
public static class RunFilesApi
{
    /// <summary>What a download carries besides its bytes: never shown inline, never sniffed, never run as a page.</summary>
    public const string ContentSecurityPolicy = "sandbox; default-src 'none'";

    public static IEndpointRouteBuilder MapRunFiles(this IEndpointRouteBuilder app)
    {
        var files = app.MapGroup("").WithTags("Runs").WithProblems(400, 401, 403, 404, 413, 429);
        files.MapPost(Routes.RunFiles, UploadAsync).RequireAuthorization(AuthApi.Policies.TryRun)
            .RequireRateLimiting(RunsApi.AnonymousRunLimit)
            .Accepts<Stream>("application/octet-stream", "*/*");
        files.MapGet(Routes.RunFile, Download).RequireAuthorization(AuthApi.Policies.Browse)
            .Produces(200, contentType: "application/octet-stream");
        app.MapGet(Routes.Limits, Limits).WithTags("Runs").AllowAnonymous();
        return app;
    }

    /// <summary>
    /// Streams the request body into a new file of the run (nothing held in memory), for a step's responses to
    /// name as <c>{"name", "media_type", "file": id}</c>. The body is the file; <c>?name=</c> its name and
    /// <c>Content-Type</c> its media type. At most FEATHER_MAX_STEP_FILE_BYTES (413 with <c>limit</c>).
    /// </summary>
    [EndpointName("uploadRunFile"), EndpointSummary("Upload a step's input file (the body is the file)")]
    private static async Task<Results<Created<RunFileView>, ProblemHttpResult>> UploadAsync(
        string runId, string? name, HttpContext http, RunService runs, ModelStore store, RunFileStore files, FeatherOptions options,
        CancellationToken ct)
    {
        if (RunsApi.Visible(runId, http, runs, store) is not { } run) return Problems.NotFound($"no run '{runId}'");
        if (string.IsNullOrWhiteSpace(name))
            return Problems.BadRequest("give the file's name as ?name= (its media type is the Content-Type header)");
        // uploads no step names yet share one step's budget: what is left of it bounds this file too
        var left = Math.Max(0, options.MaxStepBytes - files.PendingBytes(run));
        var limit = Math.Min(options.MaxStepFileBytes, left);
        if (left < options.MaxStepFileBytes && (http.Request.ContentLength ?? 1) > left)
            return TooLargeForStep(name, options.MaxStepBytes);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = limit;
        if (http.Request.ContentLength > limit)
            return limit < options.MaxStepFileBytes ? TooLargeForStep(name, options.MaxStepBytes) : TooLarge(name, limit);
        try
        {
            var file = await files.SaveAsync(runId, name, http.Request.ContentType, http.Request.Body, limit, "maxStepFileBytes", ct);
            var view = new RunFileView(file.Id, file.Name, file.MediaType, file.Size, Routes.Expand(Routes.RunFile, runId, file.Id));
            return TypedResults.Created(view.Url, view);
        }
        catch (StepFileTooLargeException)
        {
            return limit < options.MaxStepFileBytes ? TooLargeForStep(name, options.MaxStepBytes) : TooLarge(name, limit);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return limit < options.MaxStepFileBytes ? TooLargeForStep(name, options.MaxStepBytes) : TooLarge(name, limit);
        }
    }

    private static ProblemHttpResult TooLargeForStep(string name, long limit) =>
        Problems.TooLarge("maxStepBytes",
            $"with '{RunFileStore.CleanName(name)}' the uploads no step of this run uses yet would pass {RunFileStore.Bytes(limit)}, " +
            "the most one step may take (FEATHER_MAX_STEP_BYTES); submit a step that uses them first");

    private static ProblemHttpResult TooLarge(string name, long limit) =>
        Problems.TooLarge("maxStepFileBytes",
            $"'{RunFileStore.CleanName(name)}' is larger than {RunFileStore.Bytes(limit)}, the most a step file may have (FEATHER_MAX_STEP_FILE_BYTES)");

    /// <summary>
    /// A file of the run, streamed, as an attachment: <c>Content-Disposition: attachment</c>,
    /// <c>X-Content-Type-Options: nosniff</c> and <c>Content-Security-Policy: sandbox; default-src 'none'</c>, so a
    /// file a model wrote is never shown or run as part of the portal. Ranges are supported (resumed downloads).
    /// </summary>
    [EndpointName("downloadRunFile"), EndpointSummary("Download a file of a run (a step's input or output)")]
    private static Results<FileStreamHttpResult, ProblemHttpResult> Download(
        string runId, string fileId, HttpContext http, RunService runs, ModelStore store, RunFileStore files)
    {
        if (RunsApi.Visible(runId, http, runs, store) is null) return Problems.NotFound($"no run '{runId}'");
        if (files.Find(runId, fileId) is not { } file) return Problems.NotFound($"run {runId} has no file '{fileId}'");
        var headers = http.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.CacheControl = "private, no-store";
        return TypedResults.File(files.OpenRead(file), file.MediaType, file.Name, enableRangeProcessing: true);
    }

    /// <summary>The limits on step files, for clients (the portal, the SDK, the CLI) to check before they send.</summary>
    [EndpointName("getLimits"), EndpointSummary("The server's limits on step files")]
    private static Ok<LimitsView> Limits(FeatherOptions options) =>
        TypedResults.Ok(new LimitsView(options.MaxStepFileBytes, options.MaxStepBytes));
}

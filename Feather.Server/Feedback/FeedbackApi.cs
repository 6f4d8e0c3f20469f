using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Models;
using Feather.Server.Runs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Feedback;

/// <summary>
/// Feedback that becomes labelled data: a consumer rates a step's output (or one item of it), gives the right answer
/// and a comment; that shares the step's inputs and outputs with the model's owner and team, who list it and export
/// it as a dataset. Nothing else of a consumer's runs reaches the owner.
/// </summary>
public static class FeedbackApi
{
    public static WebApplicationBuilder AddFeedback(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FeedbackStore>();
        return builder;
    }

    public static IEndpointRouteBuilder MapFeedback(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Feedback").WithProblems(400, 401, 403, 404, 409);
        group.MapPost(Routes.StepFeedback, Give).RequireAuthorization(AuthApi.Policies.TryRun);
        group.MapGet(Routes.StepFeedback, OnStep).RequireAuthorization(AuthApi.Policies.Browse);
        group.MapGet(Routes.ModelFeedback, ForModel).RequireAuthorization(AuthApi.Policies.Read);
        group.MapGet(Routes.ModelFeedbackExport, ExportAsync).RequireAuthorization(AuthApi.Policies.Read)
            .Produces(200, contentType: "application/zip");
        group.MapDelete(Routes.Feedback, Delete).RequireAuthorization(AuthApi.Policies.Authenticated);
        return app;
    }

    /// <summary>
    /// Gives feedback on an output of a step that succeeded (or on one of its items): a rating, the right answer (typed,
    /// or chosen from the items the output offered) and a comment. Shares that step's inputs and outputs with the model's owner.
    /// </summary>
    [EndpointName("giveFeedback"), EndpointSummary("Give feedback on a step's output")]
    private static Results<Created<FeedbackView>, ProblemHttpResult> Give(string runId, int index, FeedbackRequest request,
        HttpContext http, RunService runs, ModelStore store, FeedbackStore feedback)
    {
        var caller = Caller.From(http.User);
        var run = RunAccess.Visible(runId, caller, runs, store);
        if (run is null) return Problems.NotFound($"no run '{runId}'");
        return feedback.Give(run, index, request, caller) switch
        {
            GiveResult.Given g => TypedResults.Created(Routes.Expand(Routes.Feedback, g.Feedback.Id), g.Feedback.ToView(g.Share)),
            GiveResult.Invalid i => Problems.Validation($"{i.Field}: {i.Message}", new Dictionary<string, string[]> { [i.Field] = [i.Message] }),
            GiveResult.NotFound n => Problems.NotFound(n.Message),
            GiveResult.Conflict c => Problems.Conflict(c.Message, new Dictionary<string, object?> { ["step"] = index }),
            _ => throw new InvalidOperationException(),
        };
    }

    /// <summary>The feedback the caller gave on this step of their run.</summary>
    [EndpointName("listStepFeedback"), EndpointSummary("List your feedback on a step")]
    private static Results<Ok<FeedbackView[]>, ProblemHttpResult> OnStep(string runId, int index, HttpContext http, RunService runs,
        ModelStore store, FeedbackStore feedback)
    {
        var caller = Caller.From(http.User);
        if (RunAccess.Visible(runId, caller, runs, store) is null) return Problems.NotFound($"no run '{runId}'");
        return TypedResults.Ok(feedback.OnStep(runId, index, caller).Select(f => f.ToView(null)).ToArray());
    }

    /// <summary>
    /// The feedback a model received, newest first, with the inputs and outputs of the steps it is about (the model's
    /// owner, team members and admins only; 404 for everyone else). Filters: version, rating (<c>correct</c>,
    /// <c>incorrect</c>, <c>none</c>), from / to (ISO 8601, UTC).
    /// </summary>
    [EndpointName("listModelFeedback"), EndpointSummary("List a model's feedback (owner)")]
    private static Results<Ok<FeedbackView[]>, ProblemHttpResult> ForModel(string owner, string model, int? version, string? rating,
        DateTime? from, DateTime? to, int? limit, HttpContext http, ModelStore store, FeedbackStore feedback)
    {
        var found = Writable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        if (rating is not null && rating != "none" && !FeedbackRating.All.Contains(rating))
            return Problems.BadRequest($"rating '{rating}': use correct, incorrect or none");
        return TypedResults.Ok(feedback.ForModel(found.Id, version, rating, Utc(from), Utc(to)).Take(Math.Clamp(limit ?? 100, 1, 1000))
            .Select(f => f.ToView(feedback.Share(f.ShareId))).ToArray());
    }

    /// <summary>
    /// The model's feedback (same filters) as a zipped dataset directory that <c>feather datasets publish</c> accepts:
    /// <c>dataset.json</c>, <c>records.jsonl</c> (input, prediction, corrected label, rating, comment, version) and the images.
    /// </summary>
    [EndpointName("exportFeedback"), EndpointSummary("Export a model's feedback as a dataset (owner)")]
    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportAsync(string owner, string model, int? version,
        string? rating, DateTime? from, DateTime? to, HttpContext http, ModelStore store, FeedbackStore feedback, CancellationToken ct)
    {
        var found = Writable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        if (rating is not null && rating != "none" && !FeedbackRating.All.Contains(rating))
            return Problems.BadRequest($"rating '{rating}': use correct, incorrect or none");
        var chosen = feedback.ForModel(found.Id, version, rating, Utc(from), Utc(to)).Reverse().ToList();
        if (chosen.Count == 0) return Problems.NotFound($"{owner}/{model} has no feedback that matches");
        http.Response.ContentType = "application/zip";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"{found.Name}-feedback.zip\"";
        // ZipArchive writes its central directory synchronously on dispose: build in a temporary file, then stream it.
        var temp = Path.GetTempFileName();
        try
        {
            await using (var file = File.Create(temp))
                await FeedbackExport.WriteZipAsync(file, $"{found.Owner}/{found.Name}", chosen, feedback.Share, ct);
            await using var read = File.OpenRead(temp);
            await read.CopyToAsync(http.Response.Body, ct);
        }
        finally
        {
            File.Delete(temp);
        }
        return TypedResults.Empty;
    }

    /// <summary>Deletes feedback: the consumer who gave it, or the model's owner, team and admins.</summary>
    [EndpointName("deleteFeedback"), EndpointSummary("Delete feedback")]
    private static Results<NoContent, ProblemHttpResult> Delete(string id, HttpContext http, ModelStore store, FeedbackStore feedback)
    {
        var caller = Caller.From(http.User);
        var found = feedback.Find(id);
        var model = found is null ? null : store.FindById(found.ModelId);
        if (found is null || (found.CreatedBy != caller.Username && (model is null || !store.CanWrite(model, caller))))
            return Problems.NotFound($"no feedback '{id}'");
        feedback.Delete(id);
        return TypedResults.NoContent();
    }

    internal static ModelRecord? Writable(string owner, string model, HttpContext http, ModelStore store)
    {
        var found = store.Find(owner, model);
        return found is not null && store.CanWrite(found, Caller.From(http.User)) ? found : null;
    }

    private static DateTime? Utc(DateTime? t) => t is { } v ? (v.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(v, DateTimeKind.Utc) : v.ToUniversalTime()) : null;
}

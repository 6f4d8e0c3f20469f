using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Evaluations;

/// <summary>
/// Evaluations of model versions on dataset versions (docs/datasets.md, "Evaluation"): start one, read it, cancel it,
/// its scored records (for whoever can change the model), a model's evaluations, and the task registry. An evaluation
/// is 404 to a caller who cannot read both its model and its dataset.
/// </summary>
public static class EvaluationsApi
{
    public static WebApplicationBuilder AddEvaluations(this WebApplicationBuilder builder)
    {
        var options = new EvaluationOptions();
        builder.Configuration.GetSection("Evaluations").Bind(options);
        var errors = options.Validate().ToList();
        if (errors.Count > 0) throw new InvalidOperationException("Invalid configuration: " + string.Join(" ", errors));
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        builder.Services.AddSingleton<EvaluationStore>();
        builder.Services.AddSingleton<EvaluationService>();
        builder.Services.AddHostedService<EvaluationWorker>();
        return builder;
    }

    public static IEndpointRouteBuilder MapEvaluations(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Evaluations").WithProblems();
        group.MapPost(Routes.Evaluations, Start).RequireAuthorization(AuthApi.Policies.Run);
        group.MapGet(Routes.Evaluation, Get).RequireAuthorization(AuthApi.Policies.Browse);
        group.MapDelete(Routes.Evaluation, Cancel).RequireAuthorization(AuthApi.Policies.Run);
        group.MapGet(Routes.EvaluationRecords, Records).RequireAuthorization(AuthApi.Policies.Browse);
        group.MapGet(Routes.ModelEvaluations, ForModel).RequireAuthorization(AuthApi.Policies.Browse);
        group.MapGet(Routes.EvaluationTasks, Tasks).RequireAuthorization(AuthApi.Policies.Browse);
        return app;
    }

    [EndpointName("startEvaluation"), EndpointSummary("Evaluate a model version on a dataset version")]
    private static Results<Accepted<EvaluationView>, Ok<EvaluationView>, ProblemHttpResult> Start(
        StartEvaluationRequest request, HttpContext http, EvaluationService service)
    {
        var started = service.Start(request, Caller.From(http.User));
        return started.Status switch
        {
            EvaluationStartStatus.Started => TypedResults.Accepted(Routes.Expand(Routes.Evaluation, started.Evaluation!.Id), started.Evaluation.ToView()),
            EvaluationStartStatus.AlreadyRunning => TypedResults.Ok(started.Evaluation!.ToView()),
            EvaluationStartStatus.ModelNotFound or EvaluationStartStatus.DatasetNotFound or EvaluationStartStatus.UnknownVersion
                or EvaluationStartStatus.UnknownDatasetVersion => Problems.NotFound(started.Message!),
            _ => Problems.BadRequest(started.Message!),
        };
    }

    [EndpointName("getEvaluation"), EndpointSummary("Get an evaluation: status, progress, metrics, per-class results and log")]
    private static Results<Ok<EvaluationDetail>, ProblemHttpResult> Get(string id, HttpContext http, EvaluationStore store)
    {
        var evaluation = store.Find(id);
        return evaluation is null || !store.CanSee(evaluation, Caller.From(http.User)) ? NotFound(id) : TypedResults.Ok(evaluation.ToDetail());
    }

    [EndpointName("cancelEvaluation"), EndpointSummary("Cancel a queued or running evaluation")]
    private static Results<Ok<EvaluationView>, ProblemHttpResult> Cancel(string id, HttpContext http, EvaluationService service, EvaluationStore store) =>
        service.Cancel(id, Caller.From(http.User)) switch
        {
            EvaluationCancelStatus.Cancelled => TypedResults.Ok(store.Find(id)!.ToView()),
            EvaluationCancelStatus.Forbidden => Problems.Forbidden("only whoever can change the model can cancel its evaluation"),
            EvaluationCancelStatus.AlreadyFinished => Problems.Conflict($"the evaluation {id} has already finished"),
            _ => NotFound(id),
        };

    /// <summary>Labels and predictions of each record; only for whoever can change the model (its owner, team, admins).</summary>
    [EndpointName("getEvaluationRecords"), EndpointSummary("Get an evaluation's scored records (which ones the model got wrong)")]
    private static Results<Ok<EvaluationRecordsPage>, ProblemHttpResult> Records(
        string id, bool? wrong, int? offset, int? limit, HttpContext http, EvaluationStore store)
    {
        var caller = Caller.From(http.User);
        var evaluation = store.Find(id);
        if (evaluation is null || !store.CanSee(evaluation, caller)) return NotFound(id);
        if (!store.CanSeeRecords(evaluation, caller))
            return Problems.Forbidden("the per-record view is for whoever can change the model");
        if (offset is < 0 || limit is < 1 or > 10_000) return Problems.BadRequest("'offset' must be 0 or more and 'limit' from 1 to 10000");
        var stored = store.Records(id);
        if (stored is null) return TypedResults.Ok(new EvaluationRecordsPage(id, 0, false, 0, []));
        var selected = stored.Records.Where(r => wrong != true || !r.Correct).ToList();
        var page = selected.Skip(offset ?? 0).Take(limit ?? 1000).Select(r => r.ToView()).ToArray();
        return TypedResults.Ok(new EvaluationRecordsPage(id, selected.Count, stored.Truncated, offset ?? 0, page));
    }

    [EndpointName("listModelEvaluations"), EndpointSummary("List a model's evaluations you can see, newest first")]
    private static Results<Ok<EvaluationView[]>, ProblemHttpResult> ForModel(
        string owner, string model, HttpContext http, ModelStore models, EvaluationStore store)
    {
        var caller = Caller.From(http.User);
        var found = models.Find(owner, model);
        if (found is null || !models.CanRead(found, caller)) return Problems.NotFound($"no model {owner}/{model}");
        return TypedResults.Ok(store.ForModel(found.Id).Where(e => store.CanSee(e, caller)).Select(e => e.ToView()).ToArray());
    }

    [EndpointName("listEvaluationTasks"), EndpointSummary("The tasks models are scored on, with their metrics")]
    private static Ok<EvaluationTaskInfo[]> Tasks() => TypedResults.Ok(EvaluationTasks.All);

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound($"no evaluation {id}");
}

using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Runs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Finetunes;

/// <summary>
/// Fine-tune jobs (docs/finetuning.md): start one, list yours, read one (status, progress, metrics, log), follow it as
/// server-sent events, cancel it. A job belongs to whoever started it: to anyone else (but admins) it is 404.
/// </summary>
public static class FinetunesApi
{
    public static WebApplicationBuilder AddFinetunes(this WebApplicationBuilder builder)
    {
        var options = new FinetuneOptions();
        builder.Configuration.GetSection("Finetunes").Bind(options);
        var errors = options.Validate().ToList();
        if (errors.Count > 0) throw new InvalidOperationException("Invalid configuration: " + string.Join(" ", errors));
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        builder.Services.AddSingleton<FinetuneStore>();
        builder.Services.AddSingleton<FinetuneService>();
        builder.Services.AddHostedService<FinetuneWorker>();
        return builder;
    }

    public static IEndpointRouteBuilder MapFinetunes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Fine-tuning").WithProblems();
        group.MapPost(Routes.Finetunes, Start).RequireAuthorization(AuthApi.Policies.Run);
        group.MapGet(Routes.Finetunes, List).RequireAuthorization(AuthApi.Policies.Read);
        group.MapGet(Routes.Finetune, Get).RequireAuthorization(AuthApi.Policies.Read);
        group.MapDelete(Routes.Finetune, Cancel).RequireAuthorization(AuthApi.Policies.Run);
        group.MapGet(Routes.FinetuneEvents, Events).RequireAuthorization(AuthApi.Policies.Read);
        return app;
    }

    /// <summary>
    /// Queues a job: allowed for whoever may run the model and read the dataset. The new version goes to the model
    /// itself when the caller may publish to it (not made live), else to the caller's OWNER/MODEL-ft.
    /// </summary>
    [EndpointName("startFinetune"), EndpointSummary("Fine-tune a model version on a dataset version")]
    private static Results<Accepted<FinetuneView>, ProblemHttpResult> Start(StartFinetuneRequest request, HttpContext http, FinetuneService service)
    {
        var started = service.Start(request, Caller.From(http.User));
        return started.Status switch
        {
            FinetuneStartStatus.Started => TypedResults.Accepted(Routes.Expand(Routes.Finetune, started.Job!.Id), started.Job.ToView()),
            FinetuneStartStatus.ModelNotFound or FinetuneStartStatus.DatasetNotFound or FinetuneStartStatus.UnknownVersion
                or FinetuneStartStatus.UnknownDatasetVersion => Problems.NotFound(started.Message!),
            FinetuneStartStatus.InvalidParams => Problems.Validation(started.Message!, started.Errors!),
            FinetuneStartStatus.TooLarge => Problems.TooLarge("maxDatasetBytes", started.Message!),
            FinetuneStartStatus.QuotaExceeded => QuotaExceeded(started.Refusal!, http),
            _ => Problems.BadRequest(started.Message!),
        };
    }

    /// <summary>429 with the quota's details and, when it resets, Retry-After (as a refused step).</summary>
    private static ProblemHttpResult QuotaExceeded(Runs.StepRefusal refusal, HttpContext http)
    {
        if (refusal.RetryAfter is { } reset)
            http.Response.Headers.RetryAfter = ((int)Math.Ceiling(Math.Max(1, reset.TotalSeconds))).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(detail: refusal.Message, statusCode: 429, title: "Quota exceeded", extensions: new Dictionary<string, object?>(refusal.Details));
    }

    [EndpointName("listFinetunes"), EndpointSummary("List your fine-tune jobs, newest first")]
    private static Ok<FinetuneView[]> List(string? model, HttpContext http, FinetuneStore store, FinetuneService service) =>
        TypedResults.Ok(store.Visible(Caller.From(http.User))
            .Where(f => model is null || f.BaseModel == model || f.ResultModel == model)
            .Select(f => View(f, service)).ToArray());

    [EndpointName("getFinetune"), EndpointSummary("Get a fine-tune job: status, progress, metrics, log and the version it made")]
    private static Results<Ok<FinetuneDetail>, ProblemHttpResult> Get(string id, HttpContext http, FinetuneStore store, FinetuneService service)
    {
        var job = store.Find(id);
        if (job is null || !FinetuneStore.CanSee(job, Caller.From(http.User))) return NotFound(id);
        return TypedResults.Ok(Detail(job, service));
    }

    [EndpointName("cancelFinetune"), EndpointSummary("Cancel a queued or running fine-tune job (no version is made)")]
    private static Results<Ok<FinetuneView>, ProblemHttpResult> Cancel(string id, HttpContext http, FinetuneService service, FinetuneStore store) =>
        service.Cancel(id, Caller.From(http.User)) switch
        {
            FinetuneCancelStatus.Cancelled => TypedResults.Ok(store.Find(id)!.ToView()),
            FinetuneCancelStatus.AlreadyFinished => Problems.Conflict($"the fine-tune job {id} has already finished"),
            FinetuneCancelStatus.Saving => Problems.Conflict($"the fine-tune job {id} has finished training and is recording its version"),
            _ => NotFound(id),
        };

    /// <summary>
    /// Server-sent events of a job: <c>status</c> (the job) when its status changes, <c>progress</c> for each report of
    /// the training function, <c>log</c> with the log text added, and <c>result</c> (the whole job) at the end, when the
    /// stream ends. A client holds at most FEATHER_MAX_EVENT_STREAMS streams open at once (429 beyond).
    /// </summary>
    [EndpointName("finetuneEvents"), EndpointSummary("Stream a fine-tune job's progress, log and end (server-sent events)")]
    private static Results<ServerSentEventsResult<object>, ProblemHttpResult> Events(
        string id, HttpContext http, FinetuneStore store, FinetuneService service, EventStreamLimit limit, CancellationToken ct)
    {
        var job = store.Find(id);
        if (job is null || !FinetuneStore.CanSee(job, Caller.From(http.User))) return NotFound(id);
        if (limit.TryOpen(http) is not { } lease)
            return TypedResults.Problem(statusCode: 429, title: "Too many requests",
                detail: $"a client may follow at most {limit.PerClient} streams at once (FEATHER_MAX_EVENT_STREAMS); close a stream first");
        http.Response.RegisterForDispose(lease);
        return TypedResults.ServerSentEvents(Follow(id, store, service, ct));
    }

    private static async IAsyncEnumerable<SseItem<object>> Follow(string id, FinetuneStore store, FinetuneService service,
        [EnumeratorCancellation] CancellationToken ct)
    {
        string? status = null;
        var logged = 0;
        var reported = 0;
        while (!ct.IsCancellationRequested)
        {
            var live = service.Live(id);
            var snapshot = live?.Snapshot();
            var job = store.Find(id);
            if (job is null) yield break;
            var log = snapshot?.Log ?? job.Logs;
            var history = snapshot?.History ?? [.. job.History];
            if (job.Status != status)
            {
                status = job.Status;
                yield return new(job.ToView(history), "status");
            }
            foreach (var point in history.Skip(reported)) yield return new(point.ToView(), "progress");
            reported = Math.Max(reported, history.Length);
            if (log.Length > logged)
            {
                yield return new(new FinetuneLogEvent(log[logged..]), "log");
                logged = log.Length;
            }
            if (FinetuneStatus.IsTerminal(job.Status))
            {
                yield return new(job.ToView(), "result");
                yield break;
            }
            // woken by the next change of a running job; a queued job is looked at again every second
            var changed = snapshot?.Changed ?? Task.CompletedTask;
            try
            {
                await Task.WhenAny(changed, Task.Delay(TimeSpan.FromSeconds(1), ct));
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    private static FinetuneView View(FinetuneRecord job, FinetuneService service) =>
        service.Live(job.Id) is { } live ? job.ToView(live.Snapshot().History) : job.ToView();

    private static FinetuneDetail Detail(FinetuneRecord job, FinetuneService service)
    {
        if (service.Live(job.Id) is { } live)
        {
            var (log, history, _) = live.Snapshot();
            return new FinetuneDetail(job.ToView(history), [.. history.Select(p => p.ToView())], log);
        }
        return new FinetuneDetail(job.ToView(), [.. job.History.Select(p => p.ToView())], job.Logs);
    }

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound($"no fine-tune job {id}");
}

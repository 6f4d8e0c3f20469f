using System.Text.Json;
using System.Globalization;
using System.Threading.RateLimiting;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Runs;

public static class RunsApi
{
    public const string AnonymousRunLimit = "anonymous-runs";

    public static WebApplicationBuilder AddRuns(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<RunService>();
        builder.Services.AddSingleton<StepEvents>();
        builder.Services.AddSingleton<EventStreamLimit>();
        builder.Services.AddHostedService<RunRecovery>();
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, ct) => new ValueTask(Results.Problem(statusCode: 429, title: "Too many requests",
                detail: "anonymous visitors may start a limited number of runs and steps per minute; log in or wait")
                .ExecuteAsync(context.HttpContext));
            o.AddPolicy(AnonymousRunLimit, http =>
            {
                if (http.User.Identity?.IsAuthenticated == true)
                    return RateLimitPartition.GetNoLimiter("user");
                var perMinute = http.RequestServices.GetRequiredService<FeatherOptions>().AnonymousRunsPerMinute;
                return RateLimitPartition.GetFixedWindowLimiter(http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                    _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1) });
            });
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapRuns(this IEndpointRouteBuilder app)
    {
        app.MapPost(Routes.StartRun, StartAsync).WithTags("Runs")
            .RequireAuthorization(AuthApi.Policies.TryRun).RequireRateLimiting(AnonymousRunLimit)
            .ProducesProblem(401).ProducesProblem(403).ProducesProblem(404).ProducesProblem(429);

        app.MapGet(Routes.Runs, Mine).WithTags("Runs").RequireAuthorization(AuthApi.Policies.Read).ProducesProblem(401).ProducesProblem(403);

        var runs = app.MapGroup("").WithTags("Runs").WithProblems(400, 401, 403, 404, 409, 429, 503);
        runs.MapGet(Routes.Run, Get).RequireAuthorization(AuthApi.Policies.Browse);
        runs.MapGet(Routes.Step, GetStep).RequireAuthorization(AuthApi.Policies.Browse);
        runs.MapGet(Routes.StepResponses, GetResponses).RequireAuthorization(AuthApi.Policies.Browse);
        runs.MapPost(Routes.Step, SubmitAsync).RequireAuthorization(AuthApi.Policies.TryRun)
            .RequireRateLimiting(AnonymousRunLimit);
        runs.MapDelete(Routes.Step, CancelAsync).RequireAuthorization(AuthApi.Policies.TryRun);
        runs.MapGet(Routes.StepEvents, Events).RequireAuthorization(AuthApi.Policies.Browse);

        app.MapPost(Routes.Execute, ExecuteAsync).WithTags("Runs")
            .RequireAuthorization(AuthApi.Policies.TryRun).RequireRateLimiting(AnonymousRunLimit)
            .ProducesProblem(400).ProducesProblem(401).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409)
            .ProducesProblem(429).ProducesProblem(503);
        return app;
    }

    /// <summary>Starts a run pinned to a version: the live one, or a number or tag.</summary>
    [EndpointName("startRun"), EndpointSummary("Start a run")]
    private static Results<Created<RunView>, ProblemHttpResult> StartAsync(
        string owner, string model, StartRunRequest? request, HttpContext http, ModelStore store, RunService runs)
    {
        var found = ModelsApi.Readable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        var number = store.Resolve(found, request?.Version);
        var version = number is null ? null : store.FindVersion(found.Id, number.Value);
        if (version is null)
            return Problems.NotFound(request?.Version is null
                ? $"{owner}/{model} has no live version"
                : $"{owner}/{model} has no version or tag '{request.Version}'");
        var run = runs.Create(found, version, Caller.From(http.User).Username);
        return TypedResults.Created(Routes.Expand(Routes.Run, run.Id), run.ToView());
    }

    /// <summary>The caller's runs, newest first (to resume one after a page reload).</summary>
    [EndpointName("listRuns"), EndpointSummary("List your runs")]
    private static Ok<RunView[]> Mine(HttpContext http, RunService runs, ModelStore store, int? limit)
    {
        var caller = Caller.From(http.User);
        return TypedResults.Ok(runs.ByUser(caller.Username!)
            .Where(r => store.FindById(r.ModelId) is { } m && store.CanRead(m, caller))
            .Take(Math.Clamp(limit ?? 50, 1, 500)).Select(r => r.ToView()).ToArray());
    }

    [EndpointName("getRun"), EndpointSummary("Get a run with its steps")]
    private static Results<Ok<RunView>, ProblemHttpResult> Get(string runId, HttpContext http, RunService runs, ModelStore store)
    {
        var run = Visible(runId, http, runs, store);
        return run is null ? NotFound(runId) : TypedResults.Ok(run.ToView());
    }

    [EndpointName("getStep"), EndpointSummary("Get a step of a run")]
    private static Results<Ok<StepView>, ProblemHttpResult> GetStep(string runId, int index, HttpContext http, RunService runs, ModelStore store)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        if (index < 0 || index >= run.Steps.Count)
            return Problems.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
        return TypedResults.Ok(run.Steps[index].ToView());
    }

    /// <summary>
    /// The responses last submitted for a step, as the client sent them (uploaded files included),
    /// so a client can show them again when the user goes back to re-run the step.
    /// </summary>
    [EndpointName("getStepResponses"), EndpointSummary("Get the responses last submitted to a step")]
    private static Results<Ok<JsonElement>, ProblemHttpResult> GetResponses(string runId, int index, HttpContext http, RunService runs, ModelStore store)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        if (index < 0 || index >= run.Steps.Count)
            return Problems.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
        var json = run.Steps[index].ResponsesJson;
        if (json is null) return Problems.NotFound($"step {index} of run {runId} has not been submitted");
        using var doc = JsonDocument.Parse(json);
        return TypedResults.Ok(doc.RootElement.Clone());
    }

    /// <summary>
    /// Submits a step's responses. Without <c>Prefer: wait=N</c> the answer is always 202 with the step
    /// as queued (however fast it runs), so a client knows what it gets. With it the answer waits up to N
    /// seconds (bounded by FEATHER_MAX_WAIT_SECONDS): 200 when the step finished, else 202 to poll.
    /// </summary>
    [EndpointName("submitStep"), EndpointSummary("Submit a step's responses")]
    private static async Task<Results<Ok<StepView>, Accepted<StepView>, ProblemHttpResult>> SubmitAsync(
        string runId, int index, SubmitStepRequest request, HttpContext http, RunService runs, ModelStore store,
        FeatherOptions options, CancellationToken ct)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        var submitted = await runs.SubmitAsync(runId, index, request.Responses, ct, request.Step);
        if (submitted is not SubmitResult.Queued(var queued, var done)) return Problem(submitted, http);

        var wait = Math.Min(PreferredWait(http.Request.Headers["Prefer"]), options.MaxWaitSeconds);
        if (wait == 0) return TypedResults.Accepted(Routes.Expand(Routes.Step, runId, index), queued);
        http.Response.Headers["Preference-Applied"] = $"wait={wait}";
        await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(wait), ct));
        if (done.IsCompletedSuccessfully) return TypedResults.Ok(done.Result.ToView());
        return TypedResults.Accepted(Routes.Expand(Routes.Step, runId, index), runs.Find(runId)!.Steps[index].ToView());
    }

    /// <summary>Cancels a queued or running step; answers the step once it has stopped (or 202 while it is stopping).</summary>
    [EndpointName("cancelStep"), EndpointSummary("Cancel a queued or running step")]
    private static async Task<Results<Ok<StepView>, Accepted<StepView>, ProblemHttpResult>> CancelAsync(
        string runId, int index, HttpContext http, RunService runs, ModelStore store, CancellationToken ct)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        if (index < 0 || index >= run.Steps.Count)
            return Problems.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
        var done = runs.Cancel(runId, index);
        if (done is null)
            return Problems.Conflict($"step {index} is {run.Steps[index].Status}, not queued or running",
                new Dictionary<string, object?> { ["step"] = index });
        await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(10), ct));
        return done.IsCompletedSuccessfully
            ? TypedResults.Ok(done.Result.ToView())
            : TypedResults.Accepted(Routes.Expand(Routes.Step, runId, index), runs.Find(runId)!.Steps[index].ToView());
    }

    /// <summary>
    /// Server-sent events for one step, pushed as the step changes (no polling): a <c>status</c> event with
    /// its state now and whenever its status changes, a <c>log</c> event with each new piece of its log while
    /// it runs, then a <c>result</c> event with the whole step (outputs, error, logs) when it has finished,
    /// and the stream ends; a step that has already finished answers its result at once. A client holds at
    /// most FEATHER_MAX_EVENT_STREAMS streams open at once (429 beyond).
    /// </summary>
    [EndpointName("stepEvents"), EndpointSummary("Stream a step's log and result (server-sent events)")]
    private static async Task<Results<ServerSentEventsResult<object>, ProblemHttpResult>> Events(
        string runId, int index, HttpContext http, RunService runs, ModelStore store, EventStreamLimit limit, CancellationToken ct)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        if (index < 0 || index >= run.Steps.Count)
            return Problems.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
        if (limit.TryOpen(http) is not { } lease)
            return TypedResults.Problem(statusCode: 429, title: "Too many requests",
                detail: $"a client may follow at most {limit.PerClient} steps' events at once (FEATHER_MAX_EVENT_STREAMS); close a stream first");
        http.Response.RegisterForDispose(lease); // held until the stream ends
        var subscription = await runs.FollowAsync(runId, index, ct);
        http.Response.RegisterForDispose(subscription);
        return TypedResults.ServerSentEvents(Follow(subscription, ct));
    }

    private static async IAsyncEnumerable<System.Net.ServerSentEvents.SseItem<object>> Follow(
        StepSubscription subscription, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var _ = subscription;
        string? last = null;
        var logged = 0;
        for (var step = subscription.Current; step is not null; step = await NextAsync(subscription.Changes, ct))
        {
            if (StepStatus.IsTerminal(step.Status))
            {
                yield return new(step, "result");
                yield break;
            }
            if (step.Status != last)
            {
                last = step.Status;
                yield return new(step, "status");
            }
            if (step.Logs.Length < logged) logged = 0; // submitted again: a new log
            if (step.Logs.Length > logged)
            {
                yield return new(new StepLogEvent(step.Index, step.Logs[logged..]), "log");
                logged = step.Logs.Length;
            }
        }
    }

    /// <summary>The step's next state; null when the client went away or the server is stopping.</summary>
    private static async Task<StepView?> NextAsync(System.Threading.Channels.ChannelReader<StepView> changes, CancellationToken ct)
    {
        try
        {
            while (await changes.WaitToReadAsync(ct))
                if (changes.TryRead(out var next)) return next;
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// The stateless form (the paper's API execution): start a run and submit its first step in one
    /// call, through the same path as a run. Answers the step and the run id.
    /// </summary>
    [EndpointName("execute"), EndpointSummary("Run a model's first step in one call")]
    private static async Task<Results<Ok<ExecutionView>, Accepted<ExecutionView>, ProblemHttpResult>> ExecuteAsync(
        string owner, string model, ExecuteRequest request, HttpContext http, ModelStore store, RunService runs,
        FeatherOptions options, CancellationToken ct)
    {
        var found = ModelsApi.Readable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        var number = store.Resolve(found, request.Version);
        var version = number is null ? null : store.FindVersion(found.Id, number.Value);
        if (version is null) return Problems.NotFound($"{owner}/{model} has no version or tag '{request.Version ?? "live"}'");
        var run = runs.Create(found, version, Caller.From(http.User).Username);
        var submitted = await runs.SubmitAsync(run.Id, 0, request.Responses, ct);
        if (submitted is not SubmitResult.Queued(var queued, var done)) return Problem(submitted, http);
        var wait = Math.Min(PreferredWait(http.Request.Headers["Prefer"]), options.MaxWaitSeconds);
        if (wait == 0) return TypedResults.Accepted(Routes.Expand(Routes.Step, run.Id, 0), new ExecutionView(run.Id, queued));
        http.Response.Headers["Preference-Applied"] = $"wait={wait}";
        await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(wait), ct));
        if (done.IsCompletedSuccessfully) return TypedResults.Ok(new ExecutionView(run.Id, done.Result.ToView()));
        return TypedResults.Accepted(Routes.Expand(Routes.Step, run.Id, 0), new ExecutionView(run.Id, runs.Find(run.Id)!.Steps[0].ToView()));
    }

    /// <summary>Runs by a user are theirs (and admins'); anonymous runs are reachable by whoever has the id.</summary>
    private static RunRecord? Visible(string runId, HttpContext http, RunService runs, ModelStore store)
    {
        var caller = Caller.From(http.User);
        var run = runs.Find(runId);
        if (run is null) return null;
        if (run.CreatedBy is not null && run.CreatedBy != caller.Username && !caller.IsAdmin) return null;
        var model = store.FindById(run.ModelId);
        return model is not null && store.CanRead(model, caller) ? run : null;
    }

    /// <summary>The problem answer to a submission <see cref="RunService.SubmitAsync"/> refused.</summary>
    private static ProblemHttpResult Problem(SubmitResult refused, HttpContext http)
    {
        static Dictionary<string, object?> At(int step) => new() { ["step"] = step };
        switch (refused)
        {
            case SubmitResult.NotFound r:
                return Problems.NotFound(r.Message);
            case SubmitResult.BadRequest r:
                return Problems.BadRequest(r.Message, At(r.Step));
            case SubmitResult.InvalidInput r:
                return TypedResults.Problem(detail: r.Message, statusCode: 400, title: "Invalid step input", extensions: new Dictionary<string, object?>
                {
                    ["step"] = r.Step,
                    ["input"] = r.Input,
                    ["errors"] = r.Errors.GroupBy(e => $"steps/{r.Step}/{e.Input}").ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()),
                });
            case SubmitResult.Conflict r:
                var where = At(r.Step);
                if (r.ImageStatus is not null) where["imageStatus"] = r.ImageStatus;
                return Problems.Conflict(r.Message, where);
            case SubmitResult.Unavailable r:
                if (r.RetryAfter is { } later)
                    http.Response.Headers.RetryAfter = ((int)Math.Ceiling(later.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Problems.Unavailable(r.Message);
            case SubmitResult.QuotaExceeded r:
                if (r.Refusal.RetryAfter is { } reset)
                    http.Response.Headers.RetryAfter = ((int)Math.Ceiling(Math.Max(1, reset.TotalSeconds))).ToString(CultureInfo.InvariantCulture);
                var details = new Dictionary<string, object?>(r.Refusal.Details) { ["step"] = r.Step };
                return TypedResults.Problem(detail: r.Refusal.Message, statusCode: 429, title: "Quota exceeded", extensions: details);
            default:
                throw new ArgumentOutOfRangeException(nameof(refused), refused, "not a refusal");
        }
    }

    private static ProblemHttpResult NotFound(string runId) => Problems.NotFound($"no run '{runId}'");

    internal static int PreferredWait(IEnumerable<string?> headers)
    {
        foreach (var header in headers)
            foreach (var part in (header ?? "").Split(',', ';'))
            {
                var kv = part.Trim().Split('=', 2);
                if (kv.Length == 2 && kv[0].Trim().Equals("wait", StringComparison.OrdinalIgnoreCase) &&
                    int.TryParse(kv[1].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
                    return seconds;
            }
        return 0;
    }
}

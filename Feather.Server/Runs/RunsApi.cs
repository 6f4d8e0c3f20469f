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
    private static Ok<RunView[]> Mine(HttpContext http, RunService runs, ModelStore store, int? limit)
    {
        var caller = Caller.From(http.User);
        return TypedResults.Ok(runs.ByUser(caller.Username!)
            .Where(r => store.FindById(r.ModelId) is { } m && store.CanRead(m, caller))
            .Take(Math.Clamp(limit ?? 50, 1, 500)).Select(r => r.ToView()).ToArray());
    }

    private static Results<Ok<RunView>, ProblemHttpResult> Get(string runId, HttpContext http, RunService runs, ModelStore store)
    {
        var run = Visible(runId, http, runs, store);
        return run is null ? NotFound(runId) : TypedResults.Ok(run.ToView());
    }

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
    /// Submits a step's responses. With <c>Prefer: wait=N</c> the answer waits up to N seconds
    /// (bounded by FEATHER_MAX_WAIT_SECONDS): 200 when the step finished, else 202 to poll.
    /// </summary>
    private static async Task<Results<Ok<StepView>, Accepted<StepView>, ProblemHttpResult>> SubmitAsync(
        string runId, int index, SubmitStepRequest request, HttpContext http, RunService runs, ModelStore store,
        FeatherOptions options, CancellationToken ct)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        var (problem, done) = await runs.SubmitAsync(runId, index, request.Responses, ct);
        if (problem is not null) return problem;

        var wait = Math.Min(PreferredWait(http.Request.Headers["Prefer"]), options.MaxWaitSeconds);
        if (wait > 0)
        {
            http.Response.Headers["Preference-Applied"] = $"wait={wait}";
            await Task.WhenAny(done!, Task.Delay(TimeSpan.FromSeconds(wait), ct));
        }
        if (done!.IsCompletedSuccessfully) return TypedResults.Ok(done.Result.ToView());
        var current = runs.Find(runId)!.Steps[index].ToView();
        return TypedResults.Accepted(Routes.Expand(Routes.Step, runId, index), current);
    }

    /// <summary>Cancels a queued or running step; answers the step once it has stopped (or 202 while it is stopping).</summary>
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
    /// Server-sent events for one step: a <c>status</c> event whenever its status changes, a <c>log</c>
    /// event with each new piece of its log while it runs, then a <c>result</c> event with the whole step
    /// (outputs, error, logs) when it has finished.
    /// </summary>
    private static Results<ServerSentEventsResult<object>, ProblemHttpResult> Events(
        string runId, int index, HttpContext http, RunService runs, ModelStore store, CancellationToken ct)
    {
        var run = Visible(runId, http, runs, store);
        if (run is null) return NotFound(runId);
        if (index < 0 || index >= run.Steps.Count)
            return Problems.NotFound($"run {runId} has steps 0 to {run.Steps.Count - 1}, not {index}");
        return TypedResults.ServerSentEvents(Follow(runs, runId, index, ct));
    }

    private static async IAsyncEnumerable<System.Net.ServerSentEvents.SseItem<object>> Follow(
        RunService runs, string runId, int index, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        string? last = null;
        var logged = 0;
        while (!ct.IsCancellationRequested)
        {
            var step = runs.Find(runId)!.Steps[index];
            var finished = StepStatus.IsTerminal(step.Status);
            if (step.Status != last && !finished)
            {
                last = step.Status;
                yield return new(step.ToView(), "status");
            }
            if (!finished && step.Logs.Length > logged)
            {
                yield return new(new StepLogEvent(index, step.Logs[logged..]), "log");
                logged = step.Logs.Length;
            }
            if (finished)
            {
                yield return new(step.ToView(), "result");
                yield break;
            }
            try { await Task.Delay(200, ct); }
            catch (OperationCanceledException) { yield break; }
        }
    }

    /// <summary>
    /// The stateless form (the paper's API execution): start a run and submit its first step in one
    /// call, through the same path as a run. Answers the step and the run id.
    /// </summary>
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
        var (problem, done) = await runs.SubmitAsync(run.Id, 0, request.Responses, ct);
        if (problem is not null) return problem;
        var wait = Math.Min(PreferredWait(http.Request.Headers["Prefer"]), options.MaxWaitSeconds);
        if (wait > 0)
        {
            http.Response.Headers["Preference-Applied"] = $"wait={wait}";
            await Task.WhenAny(done!, Task.Delay(TimeSpan.FromSeconds(wait), ct));
        }
        if (done!.IsCompletedSuccessfully) return TypedResults.Ok(new ExecutionView(run.Id, done.Result.ToView()));
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

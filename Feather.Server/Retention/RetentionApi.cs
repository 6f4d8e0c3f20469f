using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Models;
using Feather.Server.Runs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Retention;

public static class RetentionApi
{
    public static WebApplicationBuilder AddRetention(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RetentionOptions>().Bind(builder.Configuration.GetSection("Retention"))
            .Validate(o => o.AnonymousRunHours >= 0 && double.IsFinite(o.AnonymousRunHours), "Retention:AnonymousRunHours must be 0 (keep) or more")
            .Validate(o => o.UserRunDays >= 0 && double.IsFinite(o.UserRunDays), "Retention:UserRunDays must be 0 (keep) or more")
            .Validate(o => o.UsageDays >= 0 && double.IsFinite(o.UsageDays), "Retention:UsageDays must be 0 (keep) or more")
            .Validate(o => o.SweepMinutes is >= 0.05 and <= 10_080, "Retention:SweepMinutes must be between 0.05 and 10080 (a week)")
            .ValidateOnStart();
        builder.Services.AddSingleton<RetentionService>();
        builder.Services.AddHostedService<RetentionSweeper>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRetention(this IEndpointRouteBuilder app)
    {
        app.MapDelete(Routes.Run, DeleteAsync).WithTags("Runs").RequireAuthorization(AuthApi.Policies.TryRun)
            .ProducesProblem(401).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        app.MapPost(Routes.RetentionSweep, SweepAsync).WithTags("Retention").RequireAuthorization(AuthApi.Policies.Admin)
            .ProducesProblem(401).ProducesProblem(403);
        return app;
    }

    /// <summary>Deletes a run with its inputs and outputs (its creator, or anyone holding an anonymous run's id; admins). Feedback given on it stays.</summary>
    [EndpointName("deleteRun"), EndpointSummary("Delete a run")]
    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string runId, HttpContext http, RunService runs,
        ModelStore store, RetentionService retention, CancellationToken ct)
    {
        var run = RunAccess.Visible(runId, Caller.From(http.User), runs, store);
        if (run is null) return Problems.NotFound($"no run '{runId}'");
        if (await runs.DeleteAsync(runId, _ => true, ct) is null)
            return Problems.Conflict($"run {runId} has a step queued or running; cancel it first");
        retention.DeleteRunFiles(runId);
        return TypedResults.NoContent();
    }

    /// <summary>Runs a retention sweep now (it also runs every Retention:SweepMinutes).</summary>
    [EndpointName("sweepRetention"), EndpointSummary("Remove expired runs now (admin)")]
    private static async Task<Ok<RetentionSweepView>> SweepAsync(RetentionService retention, CancellationToken ct) =>
        TypedResults.Ok(await retention.SweepAsync(ct: ct));
}

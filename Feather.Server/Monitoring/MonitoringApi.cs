using Feather.Server.Common;
using Feather.Server.Feedback;
using Feather.Server.Models;
using Feather.Server.Runs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Monitoring;

public static class MonitoringApi
{
    public static WebApplicationBuilder AddMonitoring(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MonitoringOptions>().Bind(builder.Configuration.GetSection("Monitoring"))
            .Validate(o => o.ReferenceRuns >= 1, "Monitoring:ReferenceRuns must be 1 or more")
            .Validate(o => o.MinCount >= 1, "Monitoring:MinCount must be 1 or more")
            .Validate(o => o.Threshold > 0 && double.IsFinite(o.Threshold), "Monitoring:Threshold must be a number above 0")
            .Validate(o => o.MaxCategories is >= 2 and <= 1000, "Monitoring:MaxCategories must be between 2 and 1000")
            .ValidateOnStart();
        builder.Services.AddSingleton<MonitoringService>();
        builder.Services.AddSingleton<IStepObserver>(s => s.GetRequiredService<MonitoringService>());
        return builder;
    }

    public static IEndpointRouteBuilder MapMonitoring(this IEndpointRouteBuilder app)
    {
        app.MapGroup("").WithTags("Monitoring").WithProblems(401, 403, 404)
            .MapGet(Routes.Monitoring, Get).RequireAuthorization(Auth.AuthApi.Policies.Read);
        return app;
    }

    /// <summary>
    /// Drift statistics of a version (default: the live one) for the model's owner and team: steps, failures and latency
    /// per version and day, and per feature of the steps' inputs and outputs the reference window, a histogram per day
    /// and its drift score (PSI), flagged above the threshold. Aggregates only; 404 for everyone but the owner, team and admins.
    /// </summary>
    [EndpointName("getMonitoring"), EndpointSummary("Get a model's drift statistics (owner)")]
    private static Results<Ok<MonitoringView>, ProblemHttpResult> Get(string owner, string model, int? version, HttpContext http,
        ModelStore store, MonitoringService monitoring)
    {
        var found = FeedbackApi.Writable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        var number = version ?? found.LiveVersion ?? found.LatestVersion;
        if (store.FindVersion(found.Id, number) is null) return Problems.NotFound($"{owner}/{model} has no version {number}");
        return TypedResults.Ok(monitoring.View(found.Owner, found.Name, found.Id, number));
    }
}

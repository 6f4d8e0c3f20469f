using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Datasets;
using Feather.Server.Evaluations;
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
            .Validate(o => o.MaxReferenceRecords is >= 1 and <= 1_000_000, "Monitoring:MaxReferenceRecords must be between 1 and 1000000")
            .ValidateOnStart();
        builder.Services.AddSingleton<MonitoringService>();
        builder.Services.AddSingleton<IStepObserver>(s => s.GetRequiredService<MonitoringService>());
        builder.Services.AddSingleton(s => new DatasetReferences(s.GetRequiredService<Storage.FeatherDb>(),
            s.GetRequiredService<Blobs.IBlobStore>(), s.GetRequiredService<MonitoringService>().Options));
        return builder;
    }

    public static IEndpointRouteBuilder MapMonitoring(this IEndpointRouteBuilder app)
    {
        app.MapGroup("").WithTags("Monitoring").WithProblems(400, 401, 403, 404)
            .MapGet(Routes.Monitoring, Get).RequireAuthorization(Auth.AuthApi.Policies.Read);
        return app;
    }

    /// <summary>
    /// Drift statistics of a version (default: the live one) for the model's owner and team: steps, failures and latency
    /// per version and day, and per feature of the steps' inputs and outputs the reference window, a histogram per day
    /// and its drift score (PSI), flagged above the threshold. Aggregates only; 404 for everyone but the owner, team and admins.
    /// The reference window is the version's first runs, or with <c>reference=OWNER/NAME[@VERSION]</c> a dataset of the
    /// model's task that the caller can see (its image and text input fields; default its latest version).
    /// </summary>
    [EndpointName("getMonitoring"), EndpointSummary("Get a model's drift statistics (owner)")]
    private static async Task<Results<Ok<MonitoringView>, ProblemHttpResult>> Get(string owner, string model, int? version, string? reference,
        HttpContext http, ModelStore store, MonitoringService monitoring, DatasetStore datasets, DatasetReferences references, CancellationToken ct)
    {
        var found = FeedbackApi.Writable(owner, model, http, store);
        if (found is null) return ModelsApi.NotFound(owner, model);
        var number = version ?? found.LiveVersion ?? found.LatestVersion;
        if (store.FindVersion(found.Id, number) is not { } modelVersion) return Problems.NotFound($"{owner}/{model} has no version {number}");
        if (string.IsNullOrWhiteSpace(reference) || reference == MonitoringReference.Runs)
            return TypedResults.Ok(monitoring.View(found.Owner, found.Name, found.Id, number));

        var (key, at) = reference.Split('@') is [var k, var n] ? (k, n) : (reference, null);
        if (key.Split('/') is not [var dsOwner, var dsName] || dsOwner.Length == 0 || dsName.Length == 0)
            return Problems.BadRequest($"reference '{reference}': use 'runs' or a dataset as OWNER/NAME or OWNER/NAME@VERSION");
        var dataset = datasets.Find(dsOwner, dsName);
        if (dataset is null || !datasets.CanRead(dataset, Caller.From(http.User)))
            return Problems.NotFound($"no dataset {dsOwner}/{dsName}");
        int datasetVersion = dataset.LatestVersion;
        if (at is not null && (!int.TryParse(at, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out datasetVersion)))
            return Problems.BadRequest($"reference '{reference}': the dataset version after '@' must be a number");
        if (datasets.FindVersion(dataset.Id, datasetVersion) is not { } dv)
            return Problems.NotFound($"dataset {dataset.Key} has no version {datasetVersion}");
        var tasks = found.TaskTags.Concat(EvaluationService.Predict(modelVersion) is { } p ? [p.Task] : []).Distinct().ToArray();
        if (!tasks.Contains(dataset.Task, StringComparer.OrdinalIgnoreCase))
            return Problems.BadRequest($"dataset {dataset.Key} is for the task '{dataset.Task}'; the reference must be a dataset of the model's task (" +
                                       (tasks.Length == 0 ? $"{owner}/{model} names none" : string.Join(", ", tasks)) + ")");
        var read = await references.ReadAsync(dv, ct);
        return TypedResults.Ok(monitoring.View(found.Owner, found.Name, found.Id, number, read, $"{dataset.Key}@{dv.Number}"));
    }
}

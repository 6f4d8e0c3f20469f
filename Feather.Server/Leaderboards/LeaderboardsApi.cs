using Feather.Server.Auth;
using Feather.Server.Common;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Leaderboards;

/// <summary>
/// Leaderboards (docs/api.md#leaderboards): the boards the caller can see, one task's board on one dataset version
/// (each model's live version, or every version) and a model's scores with its ranks. What a caller cannot see is
/// absent: a private dataset's board is 404, a private model is left off.
/// </summary>
public static class LeaderboardsApi
{
    public static WebApplicationBuilder AddLeaderboards(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IScoreSource, EvaluationScores>();
        builder.Services.AddSingleton<LeaderboardService>();
        return builder;
    }

    public static IEndpointRouteBuilder MapLeaderboards(this IEndpointRouteBuilder app)
    {
        var boards = app.MapGroup("").WithTags("Leaderboards").WithProblems().RequireAuthorization(AuthApi.Policies.Browse);
        boards.MapGet(Routes.Leaderboards, List);
        boards.MapGet(Routes.Leaderboard, Get);
        boards.MapGet(Routes.ModelScores, Scores);
        return app;
    }

    /// <summary>One entry per task and dataset version on which a model you can see was evaluated, with its leader.</summary>
    [EndpointName("listLeaderboards"), EndpointSummary("List the leaderboards you can see")]
    private static Ok<LeaderboardSummary[]> List(string? task, HttpContext http, LeaderboardService service) =>
        TypedResults.Ok(service.Boards(Caller.From(http.User), string.IsNullOrWhiteSpace(task) ? null : task.Trim()));

    /// <summary>
    /// The models ranked by the task's primary metric. <c>dataset</c> is OWNER/NAME (default: the task's board with the most
    /// models), <c>datasetVersion</c> a version number (default: the newest with scores), <c>versions</c> <c>live</c>
    /// (default) or <c>all</c>.
    /// </summary>
    [EndpointName("getLeaderboard"), EndpointSummary("Get a task's leaderboard on a dataset version")]
    private static Results<Ok<Leaderboard>, ProblemHttpResult> Get(
        string task, string? dataset, int? datasetVersion, string? versions, HttpContext http, LeaderboardService service)
    {
        var mode = string.IsNullOrWhiteSpace(versions) ? LeaderboardService.LiveVersions : versions.Trim().ToLowerInvariant();
        if (mode is not (LeaderboardService.LiveVersions or LeaderboardService.AllVersions))
            return Problems.BadRequest($"'versions' must be '{LeaderboardService.LiveVersions}' or '{LeaderboardService.AllVersions}', not '{versions}'");
        if (datasetVersion is < 1) return Problems.BadRequest("'datasetVersion' must be 1 or more");
        var result = service.Board(task, dataset, datasetVersion, mode == LeaderboardService.AllVersions, Caller.From(http.User));
        return result.Status == BoardStatus.Found ? TypedResults.Ok(result.Board!) : Problems.NotFound(result.Detail!);
    }

    [EndpointName("getModelScores"), EndpointSummary("Get a model's scores and ranks on the leaderboards you can see")]
    private static Results<Ok<ModelScore[]>, ProblemHttpResult> Scores(string owner, string model, HttpContext http, LeaderboardService service)
    {
        var scores = service.ModelScores(owner, model, Caller.From(http.User));
        return scores is null ? Problems.NotFound($"no model {owner}/{model}") : TypedResults.Ok(scores);
    }
}

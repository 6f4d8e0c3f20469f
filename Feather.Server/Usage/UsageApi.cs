using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Runs;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Usage;

public static class UsageApi
{
    public static WebApplicationBuilder AddUsage(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<UsageOptions>().Bind(builder.Configuration.GetSection("Usage"))
            .Validate(o => o.CostWeights.Values.All(w => w >= 0 && double.IsFinite(w)), "Usage:CostWeights: every weight must be a number 0 or more")
            .Validate(o => o.MaxOwnerLabels is >= 1 and <= 10_000, "Usage:MaxOwnerLabels must be between 1 and 10000")
            .ValidateOnStart();
        builder.Services.AddSingleton<UsageService>();
        builder.Services.AddSingleton<IStepAdmission>(s => s.GetRequiredService<UsageService>());
        builder.Services.AddSingleton<IStepObserver>(s => s.GetRequiredService<UsageService>());
        return builder;
    }

    public static IEndpointRouteBuilder MapUsage(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Usage").WithProblems(400, 401, 403, 404);
        group.MapGet(Routes.Usage, Get).RequireAuthorization(AuthApi.Policies.Authenticated);
        group.MapGet(Routes.Quotas, List).RequireAuthorization(AuthApi.Policies.Admin);
        group.MapPut(Routes.Quota, Set).RequireAuthorization(AuthApi.Policies.Admin);
        group.MapDelete(Routes.Quota, Delete).RequireAuthorization(AuthApi.Policies.Admin);
        return app;
    }

    /// <summary>
    /// Steps, seconds, GPU seconds and cost by day, profile and model, with the quotas and what is used of them: the
    /// caller's own, another user's (<c>user=</c>, admins), or a team's (<c>team=</c>, its members and admins).
    /// <c>from</c> / <c>to</c> (ISO 8601, UTC) default to the last 30 days.
    /// </summary>
    [EndpointName("getUsage"), EndpointSummary("Get usage and quotas")]
    private static Results<Ok<UsageView>, ProblemHttpResult> Get(string? user, string? team, DateTime? from, DateTime? to,
        HttpContext http, UsageService usage, Accounts accounts, TimeProvider time)
    {
        var caller = Caller.From(http.User);
        if (user is not null && team is not null) return Problems.BadRequest("ask for a user or a team, not both");
        var end = Utc(to) ?? time.GetUtcNow().UtcDateTime.AddSeconds(1);
        var start = Utc(from) ?? end.AddDays(-30);
        if (start >= end) return Problems.BadRequest("'from' must be before 'to'");
        if (team is not null)
        {
            if (accounts.FindTeam(team) is null || (!caller.IsAdmin && !accounts.IsMember(team, caller.Username!)))
                return Problems.NotFound($"no team '{team}'");
            return TypedResults.Ok(usage.Report("team", team, start, end));
        }
        var name = user ?? caller.Username!;
        if (name != caller.Username && (!caller.IsAdmin || accounts.FindUser(name) is null))
            return Problems.NotFound($"no user '{name}'");
        return TypedResults.Ok(usage.Report("user", name, start, end));
    }

    [EndpointName("listQuotas"), EndpointSummary("List the quotas (admin)")]
    private static Ok<QuotaView[]> List(UsageService usage) => TypedResults.Ok(usage.AllQuotas().Select(q => q.ToView()).ToArray());

    /// <summary>Sets the quotas of a user or team (<c>kind</c> user or team), replacing its earlier ones; a field left out has no limit.</summary>
    [EndpointName("setQuota"), EndpointSummary("Set a user's or team's quotas (admin)")]
    private static Results<Ok<QuotaView>, ProblemHttpResult> Set(string kind, string name, QuotaRequest request, UsageService usage, Accounts accounts)
    {
        if (Unknown(kind, name, accounts) is { } problem) return problem;
        var errors = new Dictionary<string, string[]>();
        if (request.StepsPerDay is < 0) errors["stepsPerDay"] = ["must be 0 or more"];
        if (request.CpuSecondsPerMonth is { } cpu && (cpu < 0 || !double.IsFinite(cpu))) errors["cpuSecondsPerMonth"] = ["must be 0 or more"];
        if (request.GpuSecondsPerMonth is { } gpu && (gpu < 0 || !double.IsFinite(gpu))) errors["gpuSecondsPerMonth"] = ["must be 0 or more"];
        if (request.StorageBytes is < 0) errors["storageBytes"] = ["must be 0 or more"];
        if (errors.Count > 0) return Problems.Validation("the quotas are invalid", errors);
        return TypedResults.Ok(usage.SetQuota(kind, name, request).ToView());
    }

    [EndpointName("deleteQuota"), EndpointSummary("Remove a user's or team's quotas (admin)")]
    private static Results<NoContent, ProblemHttpResult> Delete(string kind, string name, UsageService usage, Accounts accounts)
    {
        if (Unknown(kind, name, accounts) is { } problem) return problem;
        return usage.DeleteQuota(kind, name) ? TypedResults.NoContent() : Problems.NotFound($"{kind} '{name}' has no quotas");
    }

    private static ProblemHttpResult? Unknown(string kind, string name, Accounts accounts) => kind switch
    {
        "user" when accounts.FindUser(name) is null => Problems.NotFound($"no user '{name}'"),
        "team" when accounts.FindTeam(name) is null => Problems.NotFound($"no team '{name}'"),
        "user" or "team" => null,
        _ => Problems.BadRequest($"kind '{kind}': use user or team"),
    };

    private static DateTime? Utc(DateTime? t) => t is { } v ? (v.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(v, DateTimeKind.Utc) : v.ToUniversalTime()) : null;
}

using Feather.Server.Configuration;
using Feather.Server.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Health;

public sealed record HealthStatus(string Status);

public sealed record ReadinessStatus(string Status, IReadOnlyDictionary<string, string> Checks);

/// <summary>
/// Something that must work for the server to be ready (the runner adds one for the Docker
/// engine by registering another <see cref="IReadinessCheck"/>).
/// </summary>
public interface IReadinessCheck
{
    string Name { get; }
    /// <summary>Returns null when healthy, else why not.</summary>
    Task<string?> CheckAsync(CancellationToken ct);
}

internal sealed class DataDirectoryCheck(FeatherOptions options) : IReadinessCheck
{
    public string Name => "dataDirectory";

    public async Task<string?> CheckAsync(CancellationToken ct)
    {
        try
        {
            var probe = Path.Combine(options.DataDirectory, $".ready-{Guid.NewGuid():N}");
            await File.WriteAllTextAsync(probe, "ok", ct);
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"data directory {options.DataDirectory} is not writable: {e.Message}";
        }
    }
}

internal sealed class DatabaseCheck(FeatherDb db) : IReadinessCheck
{
    public string Name => "database";

    public Task<string?> CheckAsync(CancellationToken ct)
    {
        try
        {
            db.Ping();
            return Task.FromResult<string?>(null);
        }
        catch (Exception e)
        {
            return Task.FromResult<string?>($"LiteDB is not usable: {e.Message}");
        }
    }
}

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet(Routes.Health, () => TypedResults.Ok(new HealthStatus("ok"))).WithTags("Health")
            .WithName("health").WithSummary("Is the server up");
        app.MapGet(Routes.Ready, ReadyAsync).WithTags("Health");
        return app;
    }

    [EndpointName("ready"), EndpointSummary("Is the server ready to run steps")]
    private static async Task<Results<Ok<ReadinessStatus>, JsonHttpResult<ReadinessStatus>>> ReadyAsync(
        IEnumerable<IReadinessCheck> checks, CancellationToken ct)
    {
        var answers = new Dictionary<string, string>();
        var ready = true;
        foreach (var check in checks)
        {
            var problem = await check.CheckAsync(ct);
            answers[check.Name] = problem ?? "ok";
            ready &= problem is null;
        }
        var status = new ReadinessStatus(ready ? "ready" : "not ready", answers);
        return ready ? TypedResults.Ok(status) : TypedResults.Json(status, statusCode: 503);
    }

    public static WebApplicationBuilder AddHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IReadinessCheck, DataDirectoryCheck>();
        builder.Services.AddSingleton<IReadinessCheck, DatabaseCheck>();
        return builder;
    }
}

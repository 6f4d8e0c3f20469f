using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Datasets;
using Feather.Server.Feedback;
using Feather.Server.Monitoring;
using Feather.Server.Retention;
using Feather.Server.Usage;
using Feather.Server.Evaluations;
using Feather.Server.Finetunes;
using Feather.Server.Health;
using Feather.Server.Leaderboards;
using Feather.Server.Models;
using Feather.Server.Portal;
using Feather.Server.Publishing;
using Feather.Server.Runs;
using Feather.Server.Sandbox;
using Prometheus;
using Feather.Server.Storage;

// `feather-server --healthcheck`: for a container HEALTHCHECK without curl. GETs /healthz of the
// server configured by the same environment (FEATHER_PORT, FEATHER_BIND) and exits 0 when it
// answers 200, else 1.
if (args.Length > 0 && args[0] == "--healthcheck")
{
    var port = Environment.GetEnvironmentVariable("FEATHER_PORT") is { Length: > 0 } p ? p : "8080";
    var bind = Environment.GetEnvironmentVariable("FEATHER_BIND") ?? "127.0.0.1";
    var host = bind is "" or "0.0.0.0" or "*" or "localhost" ? "127.0.0.1" : bind is "::" ? "[::1]" : bind.Contains(':') ? $"[{bind}]" : bind;
    try
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync($"http://{host}:{port}/healthz");
        Console.WriteLine($"GET http://{host}:{port}/healthz: {(int)response.StatusCode}");
        return response.IsSuccessStatusCode ? 0 : 1;
    }
    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
    {
        Console.Error.WriteLine($"GET http://{host}:{port}/healthz failed: {e.Message}");
        return 1;
    }
}

await Program.BuildApp(args).RunAsync();
return 0;

public partial class Program
{
    /// <summary>
    /// Builds the whole server. <paramref name="configureServices"/> runs after every feature has
    /// registered its services: tests use it to register test doubles, and it is where a host
    /// without the Docker runner would add its own <c>IStepExecutor</c> / <c>IImageBuilder</c>.
    /// </summary>
    public static WebApplication BuildApp(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateBuilder(args);

        builder.AddFeatherConfiguration();
        builder.AddFeatherLogging();
        builder.AddFeatherHttp();
        builder.AddStorage();
        builder.AddHealth();
        builder.AddBlobs();
        builder.AddAuth();
        builder.AddPublishing();
        builder.AddModels();
        builder.AddDatasets();
        builder.AddEvaluations();
        builder.AddFinetunes();
        builder.AddLeaderboards();
        builder.AddRuns();
        builder.AddFeedback();
        builder.AddUsage();
        builder.AddRetention();
        builder.AddMonitoring();
        builder.Services.AddRunner(builder.Configuration);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();

        app.UseFeatherHttp();
        app.UseAuth();
        app.UseRateLimiter();

        app.MapHealth();
        app.MapAuth();
        app.MapPublishing();
        app.MapModels();
        app.MapDatasets();
        app.MapEvaluations();
        app.MapFinetunes();
        app.MapLeaderboards();
        app.MapRuns();
        app.MapFeedback();
        app.MapUsage();
        app.MapRetention();
        app.MapMonitoring();
        app.MapFeatherOpenApi();
        app.MapMetrics();
        app.MapPortal();

        return app;
    }
}

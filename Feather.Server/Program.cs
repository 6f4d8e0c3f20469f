using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Health;
using Feather.Server.Models;
using Feather.Server.Portal;
using Feather.Server.Publishing;
using Feather.Server.Runs;
using Feather.Server.Sandbox;
using Prometheus;
using Feather.Server.Storage;

await Program.BuildApp(args).RunAsync();

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
        builder.AddRuns();
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
        app.MapRuns();
        app.MapFeatherOpenApi();
        app.MapMetrics();
        app.MapPortal();

        return app;
    }
}

using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Serilog;
using Serilog.Formatting.Compact;

namespace Feather.Server.Common;

public static class HttpSetup
{
    public static WebApplicationBuilder AddFeatherLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddSerilog((services, logger) => logger
            .ReadFrom.Configuration(builder.Configuration)
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Console(new RenderedCompactJsonFormatter()));
        return builder;
    }

    public static WebApplicationBuilder AddFeatherHttp(this WebApplicationBuilder builder)
    {
        // Kestrel reads connections into 64 KiB blocks, not 4 KiB ones: uploads of weights are gigabytes
        builder.Services.Replace(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPool.Factory>());
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            // Unreadable bodies and bad route/query values: say what was wrong instead of a bare 400.
            if (context.Exception is BadHttpRequestException bad)
            {
                context.ProblemDetails.Status = bad.StatusCode;
                context.ProblemDetails.Title = "Bad request";
                context.ProblemDetails.Detail = bad.InnerException is System.Text.Json.JsonException json
                    ? $"the request body is not valid JSON for this call: {json.Message}"
                    : bad.Message;
            }
        });
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.Configure<ExceptionHandlerOptions>(o =>
            o.StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            ContractJson.Configure(o.SerializerOptions);
        });
        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<Configuration.FeatherOptions>((forwarded, options) =>
        {
            forwarded.KnownIPNetworks.Clear();
            forwarded.KnownProxies.Clear();
            if (options.TrustedProxies.Length == 0)
            {
                forwarded.ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.None;
                return;
            }
            forwarded.ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor
                                         | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto;
            foreach (var proxy in options.TrustedProxies) forwarded.KnownProxies.Add(proxy);
        });
        builder.Services.AddOpenApi(o =>
        {
            FeatherOpenApi.Configure(o);
            o.AddContractTransformers();
        });
        return builder;
    }

    public static WebApplication UseFeatherHttp(this WebApplication app)
    {
        // Behind a reverse proxy, the client's address (rate limits, logs) comes from X-Forwarded-For,
        // believed only from the proxies listed in FEATHER_TRUSTED_PROXIES (none listed: nothing is believed).
        app.UseForwardedHeaders();
        app.UseSerilogRequestLogging();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    public static WebApplication MapFeatherOpenApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        return app;
    }
}

/// <summary>RFC 7807 answers with a clear title and detail; <c>errors</c> for validation.</summary>
public static class Problems
{
    public static ProblemHttpResult BadRequest(string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(detail: detail, statusCode: 400, title: "Bad request", extensions: extensions);

    public static ProblemHttpResult Validation(string detail, IDictionary<string, string[]> errors) =>
        TypedResults.Problem(detail: detail, statusCode: 400, title: "Validation failed",
            extensions: new Dictionary<string, object?> { ["errors"] = errors });

    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 404, title: "Not found");

    public static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 403, title: "Forbidden");

    public static ProblemHttpResult Unauthorized(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 401, title: "Unauthorized");

    public static ProblemHttpResult Conflict(string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(detail: detail, statusCode: 409, title: "Conflict", extensions: extensions);

    public static ProblemHttpResult TooLarge(string limit, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 413, title: "Limit exceeded",
            extensions: new Dictionary<string, object?> { ["limit"] = limit });

    public static ProblemHttpResult Gone(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 410, title: "Gone");

    public static ProblemHttpResult Unavailable(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: 503, title: "Service unavailable");
}

public static class Ids
{
    /// <summary>A random lowercase hex id of <paramref name="bytes"/> bytes.</summary>
    public static string New(int bytes = 12) =>
        Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes));
}

public static class OpenApiConventions
{
    /// <summary>Documents the problem-details answers every Feather API group can give.</summary>
    public static RouteGroupBuilder WithProblems(this RouteGroupBuilder group, params int[] statusCodes)
    {
        foreach (var status in statusCodes.Length > 0 ? statusCodes : [400, 401, 403, 404, 409])
            group.ProducesProblem(status);
        return group;
    }
}

using Feather.Server.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Feather.Server.Common;

/// <summary>
/// The conventions of the served OpenAPI document (/openapi/v1.json): its title, the tags with
/// their descriptions, the two ways to authenticate (an API token as a bearer, or the portal's
/// session cookie) and, on every operation, which of them it accepts, read from the endpoint's
/// authorization metadata. Operation summaries and ids come from the handlers'
/// <c>[EndpointSummary]</c> / <c>[EndpointName]</c> attributes. <c>servers</c> is left to
/// Microsoft.AspNetCore.OpenApi, which names the address the document was fetched from.
/// </summary>
public static class FeatherOpenApi
{
    public const string BearerScheme = "bearer";
    public const string CookieScheme = "session";

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Health", "Liveness and readiness of the server"),
        ("Auth", "API tokens, portal sessions and the caller"),
        ("Users", "User accounts (admins only)"),
        ("Teams", "Teams that own models together"),
        ("Publishing", "Publishing a model version: manifest, uploads, completion"),
        ("Models", "The catalogue, models, versions and tags"),
        ("Runs", "Runs of a model and their steps"),
    ];

    /// <summary>Policies that let anonymous visitors through (for public models).</summary>
    private static readonly HashSet<string> AnonymousPolicies = [AuthApi.Policies.Browse, AuthApi.Policies.TryRun];

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            // the address the document was fetched from, without the trailing slash linters object to
            foreach (var server in document.Servers ?? [])
                if (server.Url is { Length: > 1 } url) server.Url = url.TrimEnd('/');
            document.Info.Title = "Feather";
            document.Info.Description = "Publish Python models and run them step by step in sandboxed containers.";
            // the tags the endpoints declare (WithTags), each with its description
            document.Tags ??= new HashSet<OpenApiTag>();
            foreach (var tag in document.Tags.OfType<OpenApiTag>())
                tag.Description ??= Tags.FirstOrDefault(t => t.Name == tag.Name).Description;
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "An API token (ftr_...) from POST /api/auth/tokens; its scopes (read, run, publish, admin) limit what it may do.",
            };
            document.Components.SecuritySchemes[CookieScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Cookie, Name = "feather.session",
                Description = "The portal's session cookie from POST /api/auth/login; calls other than GET also need the " +
                              $"antiforgery token from GET /api/auth/antiforgery in the {CookieSessions.HeaderName} header.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            var policies = metadata.OfType<IAuthorizeData>().Select(a => a.Policy ?? "").ToList();
            var anonymous = metadata.OfType<IAllowAnonymous>().Any() || policies.Count == 0;
            var requirements = new List<OpenApiSecurityRequirement>();
            // an empty requirement: the call may be made without credentials
            if (anonymous || policies.All(AnonymousPolicies.Contains)) requirements.Add(new OpenApiSecurityRequirement());
            if (!anonymous)
            {
                requirements.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] });
                requirements.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(CookieScheme, context.Document)] = [] });
            }
            operation.Security = requirements;
            return Task.CompletedTask;
        });
    }
}

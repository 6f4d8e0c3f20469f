using System.Security.Claims;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Auth;

/// <summary>
/// Portal sessions: a password login sets an HttpOnly, SameSite=Strict cookie; every unsafe call
/// (POST, PUT, PATCH, DELETE) made with that cookie must carry the antiforgery token from
/// <c>GET /api/auth/antiforgery</c> in the <c>X-CSRF-TOKEN</c> header. Bearer-token calls are not
/// exposed to CSRF and skip the check.
/// </summary>
public static class CookieSessions
{
    public const string Scheme = "FeatherCookie";
    public const string SelectorScheme = "Feather";
    public const string HeaderName = "X-CSRF-TOKEN";

    public static AuthenticationBuilder AddCookieSessions(this AuthenticationBuilder auth, WebApplicationBuilder builder)
    {
        var options = FeatherOptions.FromConfiguration(builder.Configuration);
        builder.Services.AddDataProtection()
            .PersistKeysToFileSystem(Directory.CreateDirectory(Path.Combine(options.DataDirectory, "keys")))
            .SetApplicationName("feather");
        builder.Services.AddAntiforgery(o =>
        {
            o.HeaderName = HeaderName;
            o.Cookie.Name = "feather.csrf";
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        return auth
            .AddCookie(Scheme, o =>
            {
                o.Cookie.Name = "feather.session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromHours(12);
                o.SlidingExpiration = true;
                o.ForwardChallenge = TokenAuthenticationHandler.Scheme;
                o.ForwardForbid = TokenAuthenticationHandler.Scheme;
            })
            .AddPolicyScheme(SelectorScheme, "Bearer token or portal cookie", o =>
            {
                o.ForwardDefaultSelector = http =>
                    http.Request.Headers.Authorization.Count > 0 ? TokenAuthenticationHandler.Scheme : Scheme;
                o.ForwardChallenge = TokenAuthenticationHandler.Scheme;
                o.ForwardForbid = TokenAuthenticationHandler.Scheme;
            });
    }

    /// <summary>Unsafe calls authenticated by the session cookie must carry a valid antiforgery token.</summary>
    public static WebApplication UseCookieCsrfProtection(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var unsafeMethod = !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) ||
                                 HttpMethods.IsOptions(context.Request.Method));
            if (unsafeMethod && context.User.Identity is { IsAuthenticated: true, AuthenticationType: Scheme })
            {
                var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
                if (!await antiforgery.IsRequestValidAsync(context))
                {
                    await Results.Problem(statusCode: 400, title: "Antiforgery token missing or invalid",
                        detail: $"calls made with the portal session cookie must send the token from GET /api/auth/antiforgery in the {HeaderName} header")
                        .ExecuteAsync(context);
                    return;
                }
            }
            await next(context);
        });
        return app;
    }

    public static void MapCookieSessions(this RouteGroupBuilder auth)
    {
        auth.MapPost("/login", LoginAsync).AllowAnonymous();
        auth.MapPost("/logout", LogoutAsync).AllowAnonymous();
        auth.MapGet("/antiforgery", Antiforgery).AllowAnonymous();
    }

    private static async Task<Results<Ok<SessionInfo>, ProblemHttpResult>> LoginAsync(LoginRequest request, HttpContext http,
        Accounts accounts, LoginThrottle throttle)
    {
        if (string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
            return Problems.BadRequest("send both 'username' and 'password'");
        var user = AuthApi.CheckPassword(request.Username, request.Password, http, accounts, throttle, out var refused);
        if (user is null) return refused!;
        var claims = new List<Claim> { new(ClaimTypes.Name, user.Username) };
        if (user.IsAdmin) claims.Add(new Claim(TokenAuthenticationHandler.AdminClaim, "true"));
        foreach (var scope in user.IsAdmin ? Scopes.All : Scopes.Default)
            claims.Add(new Claim(TokenAuthenticationHandler.ScopeClaim, scope));
        await http.SignInAsync(Scheme, new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme)));
        return TypedResults.Ok(new SessionInfo(user.Username, user.IsAdmin));
    }

    private static async Task<NoContent> LogoutAsync(HttpContext http, CancellationToken ct)
    {
        await http.SignOutAsync(Scheme);
        return TypedResults.NoContent();
    }

    /// <summary>Sets the antiforgery cookie and returns the matching token to send in X-CSRF-TOKEN.</summary>
    private static Ok<AntiforgeryInfo> Antiforgery(HttpContext http, IAntiforgery antiforgery)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        return TypedResults.Ok(new AntiforgeryInfo(tokens.RequestToken!, HeaderName));
    }
}

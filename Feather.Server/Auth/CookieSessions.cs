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
            .PersistKeysToFileSystem(Storage.PrivateFiles.CreateDirectory(Path.Combine(options.DataDirectory, Storage.PrivateFiles.KeysFolder)))
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
                o.Events.OnValidatePrincipal = ValidateSessionAsync;
            })
            .AddPolicyScheme(SelectorScheme, "Bearer token or portal cookie", o =>
            {
                o.ForwardDefaultSelector = http =>
                    http.Request.Headers.Authorization.Count > 0 ? TokenAuthenticationHandler.Scheme : Scheme;
                o.ForwardChallenge = TokenAuthenticationHandler.Scheme;
                o.ForwardForbid = TokenAuthenticationHandler.Scheme;
            });
    }

    /// <summary>
    /// Every request made with a session cookie checks the user: a session ends at once when the user
    /// is disabled or removed, or when their session stamp changed (sign out everywhere, password change).
    /// </summary>
    private static async Task ValidateSessionAsync(CookieValidatePrincipalContext context)
    {
        var accounts = context.HttpContext.RequestServices.GetRequiredService<Accounts>();
        var name = context.Principal?.Identity?.Name;
        var user = name is null ? null : accounts.FindUser(name);
        var stamp = context.Principal?.FindFirst(TokenAuthenticationHandler.SessionStampClaim)?.Value ?? "";
        if (user is { Disabled: false } && user.SessionStamp == stamp) return;
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(Scheme);
    }

    /// <summary>Starts a portal session for <paramref name="user"/> (sets the session cookie).</summary>
    internal static Task SignInAsync(HttpContext http, UserRecord user)
    {
        // NameIdentifier binds the antiforgery token to the user alone (without it, antiforgery binds to
        // all claims, and a new session stamp after a password change would void the page's token).
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, user.Username), new(ClaimTypes.NameIdentifier, user.Username),
            new(TokenAuthenticationHandler.SessionStampClaim, user.SessionStamp),
        };
        if (user.IsAdmin) claims.Add(new Claim(TokenAuthenticationHandler.AdminClaim, "true"));
        foreach (var scope in user.IsAdmin ? Scopes.All : Scopes.Default)
            claims.Add(new Claim(TokenAuthenticationHandler.ScopeClaim, scope));
        return http.SignInAsync(Scheme, new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme)));
    }

    /// <summary>Unsafe calls authenticated by the session cookie must carry a valid antiforgery token.</summary>
    public static WebApplication UseCookieCsrfProtection(this WebApplication app)
    {
        app.UseMiddleware<CookieCsrfProtection>();
        return app;
    }

    /// <summary>Refuses (400) an unsafe call authenticated by the session cookie without a valid antiforgery token.</summary>
    private sealed class CookieCsrfProtection(RequestDelegate next, IAntiforgery antiforgery)
    {
        public async Task InvokeAsync(HttpContext context)
        {
            var unsafeMethod = !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) ||
                                 HttpMethods.IsOptions(context.Request.Method));
            if (unsafeMethod && context.User.Identity is { IsAuthenticated: true, AuthenticationType: Scheme }
                && !await antiforgery.IsRequestValidAsync(context))
            {
                await Results.Problem(statusCode: 400, title: "Antiforgery token missing or invalid",
                        detail: $"calls made with the portal session cookie must send the token from GET /api/auth/antiforgery in the {HeaderName} header")
                    .ExecuteAsync(context);
                return;
            }
            await next(context);
        }
    }

    public static void MapCookieSessions(this RouteGroupBuilder auth)
    {
        auth.MapPost(Routes.Login, LoginAsync).AllowAnonymous();
        auth.MapPost(Routes.Logout, LogoutAsync).AllowAnonymous();
        auth.MapGet(Routes.Antiforgery, Antiforgery).AllowAnonymous();
    }

    [EndpointName("login"), EndpointSummary("Sign in to the portal (session cookie)")]
    private static async Task<Results<Ok<SessionInfo>, ProblemHttpResult>> LoginAsync(LoginRequest request, HttpContext http,
        Accounts accounts, LoginThrottle throttle)
    {
        if (string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
            return Problems.BadRequest("send both 'username' and 'password'");
        var user = AuthApi.CheckPassword(request.Username, request.Password, http, accounts, throttle, out var refused);
        if (user is null) return refused!;
        await SignInAsync(http, user);
        return TypedResults.Ok(new SessionInfo(user.Username, user.IsAdmin));
    }

    [EndpointName("logout"), EndpointSummary("Sign out of the portal")]
    private static async Task<NoContent> LogoutAsync(HttpContext http, CancellationToken ct)
    {
        await http.SignOutAsync(Scheme);
        return TypedResults.NoContent();
    }

    /// <summary>Sets the antiforgery cookie and returns the matching token to send in X-CSRF-TOKEN.</summary>
    [EndpointName("antiforgery"), EndpointSummary("Get an antiforgery token")]
    private static Ok<AntiforgeryInfo> Antiforgery(HttpContext http, IAntiforgery antiforgery)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        return TypedResults.Ok(new AntiforgeryInfo(tokens.RequestToken!, HeaderName));
    }
}

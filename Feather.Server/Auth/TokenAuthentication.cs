using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Feather.Server.Auth;

/// <summary>Bearer tokens (<c>Authorization: Bearer ftr_…</c>) looked up by their SHA-256.</summary>
internal sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggerFactory, UrlEncoder encoder, Accounts accounts)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public new const string Scheme = "FeatherToken";
    public const string AdminClaim = "feather:admin";
    public const string ScopeClaim = "scope";
    public const string TokenIdClaim = "feather:token";
    /// <summary>On portal sessions: the user's <see cref="UserRecord.SessionStamp"/> when the session began.</summary>
    public const string SessionStampClaim = "feather:session";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return Task.FromResult(AuthenticateResult.NoResult());
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header must be 'Bearer <token>'"));
        var secret = header["Bearer ".Length..].Trim();
        var token = secret.StartsWith(TokenSecrets.Prefix, StringComparison.Ordinal) ? accounts.FindTokenBySecret(secret) : null;
        var user = token is null ? null : accounts.FindUser(token.Username);
        if (token is null || user is null)
            return Task.FromResult(AuthenticateResult.Fail("the token is unknown or has been revoked"));
        if (user.Disabled)
            return Task.FromResult(AuthenticateResult.Fail($"the account '{user.Username}' is disabled; ask an admin"));
        accounts.TouchToken(token);

        var claims = new List<Claim> { new(ClaimTypes.Name, user.Username), new(TokenIdClaim, token.Id) };
        if (user.IsAdmin) claims.Add(new Claim(AdminClaim, "true"));
        claims.AddRange(token.Scopes.Select(s => new Claim(ScopeClaim, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await Context.AuthenticateAsync(Scheme)).Failure?.Message;
        await Results.Problem(statusCode: 401, title: "Unauthorized",
            detail: failure ?? "this call needs a token: send 'Authorization: Bearer <token>' (POST /api/auth/tokens gives one)")
            .ExecuteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Results.Problem(statusCode: 403, title: "Forbidden",
            detail: "the token does not have the scope this call needs (read, run, publish or admin)").ExecuteAsync(Context);
}

/// <summary>Who is calling: a user with token scopes, or an anonymous visitor.</summary>
public sealed record Caller(string? Username, bool IsAdmin, IReadOnlySet<string> Scopes)
{
    public bool IsAnonymous => Username is null;
    public bool Has(string scope) => Scopes.Contains(scope);

    public static Caller From(ClaimsPrincipal principal)
    {
        if (principal.Identity?.IsAuthenticated != true)
            return new Caller(null, false, new HashSet<string>());
        var scopes = principal.FindAll(TokenAuthenticationHandler.ScopeClaim).Select(c => c.Value).ToHashSet();
        var adminUser = principal.HasClaim(TokenAuthenticationHandler.AdminClaim, "true");
        return new Caller(principal.Identity.Name, adminUser && scopes.Contains(Feather.Server.Auth.Scopes.Admin), scopes)
        {
            IsAdminUser = adminUser,
        };
    }

    /// <summary>The user is an admin (whatever the token's scopes).</summary>
    public bool IsAdminUser { get; init; }
}

using Feather.Server.Common;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Auth;

public static class AuthApi
{
    public static class Policies
    {
        public const string Read = "read";
        public const string Run = "run";
        public const string Publish = "publish";
        public const string Admin = "admin";
        public const string Authenticated = "authenticated";
        /// <summary>Anonymous visitors, or tokens with the read scope.</summary>
        public const string Browse = "browse";
        /// <summary>Anonymous visitors, or tokens with the run scope.</summary>
        public const string TryRun = "try-run";
    }

    public static WebApplicationBuilder AddAuth(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<Accounts>();
        builder.Services.AddSingleton<LoginThrottle>();
        builder.Services.AddHostedService<AdminBootstrap>();
        builder.Services.AddAuthentication(CookieSessions.SelectorScheme)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.Scheme, null)
            .AddCookieSessions(builder);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Authenticated, p => p.RequireAuthenticatedUser())
            .AddPolicy(Policies.Read, p => p.RequireClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Read))
            .AddPolicy(Policies.Run, p => p.RequireClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Run))
            .AddPolicy(Policies.Publish, p => p.RequireClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Publish))
            .AddPolicy(Policies.Admin, p => p
                .RequireClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Admin)
                .RequireClaim(TokenAuthenticationHandler.AdminClaim, "true"))
            .AddPolicy(Policies.Browse, p => p.RequireAssertion(c =>
                c.User.Identity?.IsAuthenticated != true || c.User.HasClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Read)))
            .AddPolicy(Policies.TryRun, p => p.RequireAssertion(c =>
                c.User.Identity?.IsAuthenticated != true || c.User.HasClaim(TokenAuthenticationHandler.ScopeClaim, Scopes.Run)));
        return builder;
    }

    public static WebApplication UseAuth(this WebApplication app)
    {
        app.UseAuthentication();
        // A bad token is an error even on calls anonymous visitors may make.
        app.Use(async (context, next) =>
        {
            if (context.Request.Headers.Authorization.Count > 0 && context.User.Identity?.IsAuthenticated != true)
            {
                await context.ChallengeAsync(TokenAuthenticationHandler.Scheme);
                return;
            }
            await next(context);
        });
        app.UseCookieCsrfProtection();
        app.UseAuthorization();
        return app;
    }

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth").WithTags("Auth").WithProblems(400, 401, 403, 404);
        auth.MapPost("/tokens", CreateToken).AllowAnonymous();
        auth.MapCookieSessions();
        auth.MapGet("/tokens", ListTokens).RequireAuthorization(Policies.Authenticated);
        auth.MapDelete("/tokens/{id}", RevokeToken).RequireAuthorization(Policies.Authenticated);

        app.MapGet("/api/me", GetMe).WithTags("Auth").RequireAuthorization(Policies.Authenticated);

        var users = app.MapGroup("/api/users").WithTags("Users").WithProblems(400, 401, 403, 409).RequireAuthorization(Policies.Admin);
        users.MapPost("/", CreateUser);
        users.MapGet("/", ListUsers);

        var teams = app.MapGroup("/api/teams").WithTags("Teams").WithProblems().RequireAuthorization(Policies.Authenticated);
        teams.MapPost("/", CreateTeam).RequireAuthorization(Policies.Publish);
        teams.MapGet("/{team}", GetTeam).RequireAuthorization(Policies.Read);
        teams.MapPost("/{team}/members", AddMember).RequireAuthorization(Policies.Publish);
        teams.MapDelete("/{team}/members/{username}", RemoveMember).RequireAuthorization(Policies.Publish);
        return app;
    }

    /// <summary>
    /// With username and password: the password grant (how the CLI logs in). Without: a new token
    /// for the calling token's user, with at most the calling token's scopes.
    /// </summary>
    private static Results<Created<CreatedToken>, ProblemHttpResult> CreateToken(
        CreateTokenRequest request, HttpContext http, Accounts accounts, LoginThrottle throttle)
    {
        var caller = Caller.From(http.User);
        UserRecord? user;
        if (request.Username is not null || request.Password is not null)
        {
            if (string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password))
                return Problems.BadRequest("send both 'username' and 'password'");
            user = CheckPassword(request.Username, request.Password, http, accounts, throttle, out var refused);
            if (user is null) return refused!;
        }
        else if (!caller.IsAnonymous)
        {
            user = accounts.FindUser(caller.Username!)!;
        }
        else
        {
            return Problems.Unauthorized("send 'username' and 'password', or call with a bearer token");
        }

        var scopes = request.Scopes is { Length: > 0 } ? request.Scopes : Scopes.Default;
        var unknown = scopes.Where(s => !Scopes.All.Contains(s)).ToArray();
        if (unknown.Length > 0)
            return Problems.BadRequest($"unknown scope(s) {string.Join(", ", unknown)}; allowed: {string.Join(", ", Scopes.All)}");
        if (scopes.Contains(Scopes.Admin) && !user.IsAdmin)
            return Problems.Forbidden("only admins can create tokens with the admin scope");
        if (!caller.IsAnonymous && request.Password is null)
        {
            var beyond = scopes.Where(s => !caller.Has(s)).ToArray();
            if (beyond.Length > 0)
                return Problems.Forbidden($"the calling token lacks the scope(s) {string.Join(", ", beyond)}; log in with a password to get them");
        }
        var name = string.IsNullOrWhiteSpace(request.Name) ? "token" : request.Name.Trim();
        if (name.Length > 100) return Problems.BadRequest("'name' is longer than 100 characters");

        var (record, secret) = accounts.CreateToken(user.Username, name, scopes);
        return TypedResults.Created($"/api/auth/tokens/{record.Id}",
            new CreatedToken(record.Id, secret, record.Name, [.. record.Scopes], record.CreatedAt));
    }

    /// <summary>
    /// A password check behind the <see cref="LoginThrottle"/>: the user, or the problem to answer
    /// (401 for a wrong password, 429 once too many wrong ones came from this address or for this user).
    /// </summary>
    internal static UserRecord? CheckPassword(string username, string password, HttpContext http, Accounts accounts,
        LoginThrottle throttle, out ProblemHttpResult? refused)
    {
        var address = http.Connection.RemoteIpAddress?.ToString();
        if (throttle.RetryAfter(address, username) is { } wait)
        {
            http.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
            refused = TypedResults.Problem(statusCode: 429, title: "Too many sign-in attempts",
                detail: $"too many wrong passwords from this address or for this user; try again in {wait} s");
            return null;
        }
        var user = accounts.CheckPassword(username, password);
        if (user is null) throttle.Failed(address, username);
        refused = user is null ? Problems.Unauthorized("invalid username or password") : null;
        return user;
    }

    /// <summary>The caller's tokens; an admin may list another user's with <c>?user=</c> (to revoke a leaked one).</summary>
    private static Results<Ok<TokenInfo[]>, ProblemHttpResult> ListTokens(string? user, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        if (user is not null && user != caller.Username && !caller.IsAdmin)
            return Problems.Forbidden("only admins can list another user's tokens");
        return TypedResults.Ok(accounts.TokensOf(user ?? caller.Username!)
            .Select(t => new TokenInfo(t.Id, t.Name, [.. t.Scopes], t.CreatedAt, t.LastUsedAt)).ToArray());
    }

    /// <summary>The owner can revoke a token, and so can an admin (a leaked token); for anyone else it is not found.</summary>
    private static Results<NoContent, ProblemHttpResult> RevokeToken(string id, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        return accounts.RevokeToken(caller.Username!, id, anyOwner: caller.IsAdmin)
            ? TypedResults.NoContent()
            : Problems.NotFound($"you have no token with id '{id}'");
    }

    private static Ok<Me> GetMe(HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var user = accounts.FindUser(caller.Username!)!;
        return TypedResults.Ok(new Me(user.Username, user.IsAdmin,
            accounts.TeamsOf(user.Username).Select(t => t.Name).ToArray(), [.. caller.Scopes.Order()]));
    }

    private static Results<Created<UserInfo>, ProblemHttpResult> CreateUser(CreateUserRequest request, Accounts accounts)
    {
        if (!Names.IsValid(request.Username))
            return Problems.BadRequest($"'username' must be {Names.Rule}");
        if (request.Password is not { Length: >= 8 })
            return Problems.BadRequest("'password' must be at least 8 characters");
        if (accounts.NameTaken(request.Username!))
            return Problems.Conflict($"the name '{request.Username}' is already taken by a user or team");
        var user = accounts.CreateUser(request.Username!, request.Password, request.IsAdmin);
        return TypedResults.Created($"/api/users/{user.Username}", new UserInfo(user.Username, user.IsAdmin, user.CreatedAt));
    }

    private static Ok<UserInfo[]> ListUsers(Accounts accounts) =>
        TypedResults.Ok(accounts.AllUsers().Select(u => new UserInfo(u.Username, u.IsAdmin, u.CreatedAt)).ToArray());

    private static Results<Created<TeamInfo>, ProblemHttpResult> CreateTeam(CreateTeamRequest request, HttpContext http, Accounts accounts)
    {
        if (!Names.IsValid(request.Name))
            return Problems.BadRequest($"'name' must be {Names.Rule}");
        if (accounts.NameTaken(request.Name!))
            return Problems.Conflict($"the name '{request.Name}' is already taken by a user or team");
        var team = accounts.CreateTeam(request.Name!, Caller.From(http.User).Username!);
        return TypedResults.Created($"/api/teams/{team.Name}", ToInfo(team));
    }

    /// <summary>Teams are visible to their members and admins; to others they do not exist.</summary>
    private static Results<Ok<TeamInfo>, ProblemHttpResult> GetTeam(string team, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var record = accounts.FindTeam(team);
        if (record is null || !(caller.IsAdmin || record.Members.Contains(caller.Username!)))
            return Problems.NotFound($"no team named '{team}'");
        return TypedResults.Ok(ToInfo(record));
    }

    private static Results<Ok<TeamInfo>, ProblemHttpResult> AddMember(string team, AddMemberRequest request, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var record = accounts.FindTeam(team);
        if (record is null || !(caller.IsAdmin || record.Members.Contains(caller.Username!)))
            return Problems.NotFound($"no team named '{team}'");
        if (request.Username is null || accounts.FindUser(request.Username) is null)
            return Problems.BadRequest($"no user named '{request.Username}'");
        if (!record.Members.Contains(request.Username))
        {
            record.Members.Add(request.Username);
            accounts.SaveTeam(record);
        }
        return TypedResults.Ok(ToInfo(record));
    }

    private static Results<Ok<TeamInfo>, ProblemHttpResult> RemoveMember(string team, string username, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var record = accounts.FindTeam(team);
        if (record is null || !(caller.IsAdmin || record.Members.Contains(caller.Username!)))
            return Problems.NotFound($"no team named '{team}'");
        if (!record.Members.Remove(username))
            return Problems.NotFound($"'{username}' is not a member of '{team}'");
        if (record.Members.Count == 0)
            return Problems.Conflict("a team needs at least one member");
        accounts.SaveTeam(record);
        return TypedResults.Ok(ToInfo(record));
    }

    private static TeamInfo ToInfo(TeamRecord t) => new(t.Name, [.. t.Members], t.CreatedAt);
}

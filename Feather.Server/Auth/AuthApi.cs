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
        var auth = app.MapGroup("").WithTags("Auth").WithProblems(400, 401, 403, 404);
        auth.MapPost(Routes.Tokens, CreateToken).AllowAnonymous();
        auth.MapCookieSessions();
        auth.MapGet(Routes.Tokens, ListTokens).RequireAuthorization(Policies.Authenticated);
        auth.MapDelete(Routes.Token, RevokeToken).RequireAuthorization(Policies.Authenticated);
        auth.MapPost(Routes.Password, ChangePasswordAsync).RequireAuthorization(Policies.Authenticated).ProducesProblem(429);
        auth.MapPost(Routes.LogoutEverywhere, SignOutEverywhereAsync).RequireAuthorization(Policies.Publish);

        app.MapGet(Routes.Me, GetMe).WithTags("Auth").RequireAuthorization(Policies.Authenticated);

        var users = app.MapGroup("").WithTags("Users").WithProblems(400, 401, 403, 409).RequireAuthorization(Policies.Admin);
        users.MapPost(Routes.Users, CreateUser);
        users.MapGet(Routes.Users, ListUsers);
        users.MapPost(Routes.DisableUser, DisableUser).ProducesProblem(404);
        users.MapPost(Routes.EnableUser, EnableUser).ProducesProblem(404);

        var teams = app.MapGroup("").WithTags("Teams").WithProblems().RequireAuthorization(Policies.Authenticated);
        teams.MapPost(Routes.Teams, CreateTeam).RequireAuthorization(Policies.Publish);
        teams.MapGet(Routes.Team, GetTeam).RequireAuthorization(Policies.Read);
        teams.MapPost(Routes.TeamMembers, AddMember).RequireAuthorization(Policies.Publish);
        teams.MapDelete(Routes.TeamMember, RemoveMember).RequireAuthorization(Policies.Publish);
        return app;
    }

    /// <summary>
    /// With username and password: the password grant (how the CLI logs in). Without: a new token
    /// for the calling token's user, with at most the calling token's scopes.
    /// </summary>
    [EndpointName("createToken"), EndpointSummary("Create an API token")]
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
    /// (401 for a wrong password, 403 for a disabled account, 429 once too many wrong ones came
    /// from this address, for this account from this address, or for this account from addresses
    /// it never signed in from). A success remembers the address as one the account signs in from.
    /// </summary>
    internal static UserRecord? CheckPassword(string username, string password, HttpContext http, Accounts accounts,
        LoginThrottle throttle, out ProblemHttpResult? refused)
    {
        var address = http.Connection.RemoteIpAddress?.ToString();
        var known = accounts.SignedInFrom(username, address);
        if (throttle.RetryAfter(address, username, known) is { } wait)
        {
            http.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
            refused = TypedResults.Problem(statusCode: 429, title: "Too many sign-in attempts",
                detail: $"too many wrong passwords from this address or for this user; try again in {wait} s");
            return null;
        }
        var user = accounts.CheckPassword(username, password);
        if (user is null)
        {
            throttle.Failed(address, username, known);
            refused = Problems.Unauthorized("invalid username or password");
            return null;
        }
        if (user.Disabled)
        {
            refused = Problems.Forbidden($"the account '{user.Username}' is disabled; ask an admin");
            return null;
        }
        accounts.RememberSignIn(user, address);
        refused = null;
        return user;
    }

    /// <summary>
    /// The caller changes their own password, proving the current one (throttled like a sign-in).
    /// Every portal session of the user ends; a call made with a session cookie gets a fresh one.
    /// Tokens stay valid (sign out everywhere revokes them).
    /// </summary>
    [EndpointName("changePassword"), EndpointSummary("Change your password")]
    private static async Task<Results<NoContent, ProblemHttpResult>> ChangePasswordAsync(ChangePasswordRequest request, HttpContext http,
        Accounts accounts, LoginThrottle throttle)
    {
        var caller = Caller.From(http.User);
        if (string.IsNullOrEmpty(request.CurrentPassword) || request.NewPassword is null)
            return Problems.BadRequest("send 'currentPassword' and 'newPassword'");
        if (request.NewPassword.Length < 8)
            return Problems.BadRequest("'newPassword' must be at least 8 characters");
        if (request.NewPassword == request.CurrentPassword)
            return Problems.BadRequest("'newPassword' must differ from the current password");
        var user = CheckPassword(caller.Username!, request.CurrentPassword, http, accounts, throttle, out var refused);
        if (user is null)
            return refused!.StatusCode == 401 ? Problems.Forbidden("the current password is wrong") : refused;
        accounts.ChangePassword(user, request.NewPassword);
        if (http.User.Identity?.AuthenticationType == CookieSessions.Scheme)
            await CookieSessions.SignInAsync(http, user);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Ends every portal session of the caller and revokes all their tokens, the calling one
    /// included. Needs the publish scope, so a read-only token cannot sign its user out.
    /// </summary>
    [EndpointName("logoutEverywhere"), EndpointSummary("Sign out everywhere: end every session and revoke every token")]
    private static async Task<Ok<SignedOutEverywhere>> SignOutEverywhereAsync(HttpContext http, Accounts accounts)
    {
        var user = accounts.FindUser(Caller.From(http.User).Username!)!;
        var revoked = accounts.SignOutEverywhere(user);
        if (http.User.Identity?.AuthenticationType == CookieSessions.Scheme)
            await http.SignOutAsync(CookieSessions.Scheme);
        return TypedResults.Ok(new SignedOutEverywhere(user.Username, revoked));
    }

    /// <summary>The caller's tokens; an admin may list another user's with <c>?user=</c> (to revoke a leaked one).</summary>
    [EndpointName("listTokens"), EndpointSummary("List API tokens")]
    private static Results<Ok<TokenInfo[]>, ProblemHttpResult> ListTokens(string? user, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        if (user is not null && user != caller.Username && !caller.IsAdmin)
            return Problems.Forbidden("only admins can list another user's tokens");
        return TypedResults.Ok(accounts.TokensOf(user ?? caller.Username!)
            .Select(t => new TokenInfo(t.Id, t.Name, [.. t.Scopes], t.CreatedAt, t.LastUsedAt)).ToArray());
    }

    /// <summary>
    /// The owner can revoke a token, and so can an admin (a leaked token); for anyone else it is not
    /// found. Any token may revoke itself (logging out); revoking another token needs the publish
    /// scope, so a read-only token cannot revoke its user's other tokens.
    /// </summary>
    [EndpointName("revokeToken"), EndpointSummary("Revoke an API token")]
    private static Results<NoContent, ProblemHttpResult> RevokeToken(string id, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var itself = http.User.FindFirst(TokenAuthenticationHandler.TokenIdClaim)?.Value == id;
        if (!itself && !caller.Has(Scopes.Publish) && !caller.IsAdmin)
            return Problems.Forbidden("revoking another token needs the publish scope; a token without it can revoke only itself");
        return accounts.RevokeToken(caller.Username!, id, anyOwner: caller.IsAdmin)
            ? TypedResults.NoContent()
            : Problems.NotFound($"you have no token with id '{id}'");
    }

    [EndpointName("me"), EndpointSummary("Who am I")]
    private static Ok<Me> GetMe(HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var user = accounts.FindUser(caller.Username!)!;
        return TypedResults.Ok(new Me(user.Username, user.IsAdmin,
            accounts.TeamsOf(user.Username).Select(t => t.Name).ToArray(), [.. caller.Scopes.Order()]));
    }

    [EndpointName("createUser"), EndpointSummary("Create a user (admin)")]
    private static Results<Created<UserInfo>, ProblemHttpResult> CreateUser(CreateUserRequest request, Accounts accounts)
    {
        if (!Names.IsValid(request.Username))
            return Problems.BadRequest($"'username' must be {Names.Rule}");
        if (request.Password is not { Length: >= 8 })
            return Problems.BadRequest("'password' must be at least 8 characters");
        if (accounts.NameTaken(request.Username!))
            return Problems.Conflict($"the name '{request.Username}' is already taken by a user or team");
        var user = accounts.CreateUser(request.Username!, request.Password, request.IsAdmin);
        return TypedResults.Created($"/api/users/{user.Username}", ToInfo(user));
    }

    [EndpointName("listUsers"), EndpointSummary("List users (admin)")]
    private static Ok<UserInfo[]> ListUsers(Accounts accounts) =>
        TypedResults.Ok(accounts.AllUsers().Select(ToInfo).ToArray());

    /// <summary>
    /// Disables a user: they cannot sign in, their tokens are refused and their portal sessions end
    /// at once (all until enabled again; the tokens then work again). Admins cannot disable themselves.
    /// </summary>
    [EndpointName("disableUser"), EndpointSummary("Disable a user (admin)")]
    private static Results<Ok<UserInfo>, ProblemHttpResult> DisableUser(string username, HttpContext http, Accounts accounts)
    {
        var user = accounts.FindUser(username);
        if (user is null) return Problems.NotFound($"no user named '{username}'");
        if (user.Username == Caller.From(http.User).Username)
            return Problems.Conflict("you cannot disable your own account; ask another admin");
        accounts.SetDisabled(user, true);
        return TypedResults.Ok(ToInfo(user));
    }

    [EndpointName("enableUser"), EndpointSummary("Enable a disabled user (admin)")]
    private static Results<Ok<UserInfo>, ProblemHttpResult> EnableUser(string username, Accounts accounts)
    {
        var user = accounts.FindUser(username);
        if (user is null) return Problems.NotFound($"no user named '{username}'");
        accounts.SetDisabled(user, false);
        return TypedResults.Ok(ToInfo(user));
    }

    private static UserInfo ToInfo(UserRecord u) => new(u.Username, u.IsAdmin, u.CreatedAt, u.Disabled);

    [EndpointName("createTeam"), EndpointSummary("Create a team")]
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
    [EndpointName("getTeam"), EndpointSummary("Get a team")]
    private static Results<Ok<TeamInfo>, ProblemHttpResult> GetTeam(string team, HttpContext http, Accounts accounts)
    {
        var caller = Caller.From(http.User);
        var record = accounts.FindTeam(team);
        if (record is null || !(caller.IsAdmin || record.Members.Contains(caller.Username!)))
            return Problems.NotFound($"no team named '{team}'");
        return TypedResults.Ok(ToInfo(record));
    }

    [EndpointName("addTeamMember"), EndpointSummary("Add a team member")]
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

    [EndpointName("removeTeamMember"), EndpointSummary("Remove a team member")]
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

using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Storage;

namespace Feather.Server.Auth;

/// <summary>Users, tokens and teams in LiteDB.</summary>
public sealed class Accounts(FeatherDb db, TimeProvider time)
{
    public UserRecord? FindUser(string username) => db.Users.FindById(username);

    public TeamRecord? FindTeam(string name) => db.Teams.FindById(name);

    public bool NameTaken(string name) => db.Users.FindById(name) is not null || db.Teams.FindById(name) is not null;

    public UserRecord CreateUser(string username, string password, bool isAdmin)
    {
        var user = new UserRecord
        {
            Id = username, Username = username, PasswordHash = Passwords.Hash(password),
            IsAdmin = isAdmin, CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.Users.Insert(user);
        return user;
    }

    public IEnumerable<UserRecord> AllUsers() => db.Users.FindAll().OrderBy(u => u.Username);

    public UserRecord? CheckPassword(string username, string password)
    {
        var user = FindUser(username);
        // Hash even for unknown users so timing does not reveal which names exist.
        var ok = Passwords.Verify(password, user?.PasswordHash ?? DummyHash);
        return ok && user is not null ? user : null;
    }

    private static readonly string DummyHash = Passwords.Hash(Guid.NewGuid().ToString());

    /// <summary>How many sign-in addresses a user keeps (the most recent ones).</summary>
    public const int KeptSignInAddresses = 10;

    /// <summary>Whether <paramref name="username"/> has signed in with a password from <paramref name="address"/> before.</summary>
    public bool SignedInFrom(string username, string? address) =>
        address is not null && FindUser(username)?.SignInAddresses.Contains(address) == true;

    /// <summary>Remembers a successful password sign-in from <paramref name="address"/> (see <see cref="LoginThrottle"/>).</summary>
    public void RememberSignIn(UserRecord user, string? address)
    {
        if (address is null || (user.SignInAddresses.Count > 0 && user.SignInAddresses[^1] == address)) return;
        user.SignInAddresses.Remove(address);
        user.SignInAddresses.Add(address);
        if (user.SignInAddresses.Count > KeptSignInAddresses)
            user.SignInAddresses.RemoveRange(0, user.SignInAddresses.Count - KeptSignInAddresses);
        db.Users.Update(user);
    }

    /// <summary>Sets a new password and ends every portal session of the user (tokens stay valid).</summary>
    public void ChangePassword(UserRecord user, string newPassword)
    {
        user.PasswordHash = Passwords.Hash(newPassword);
        user.SessionStamp = Ids.New(8);
        db.Users.Update(user);
    }

    /// <summary>Ends every portal session of the user and revokes all their tokens; the number of tokens revoked.</summary>
    public int SignOutEverywhere(UserRecord user)
    {
        user.SessionStamp = Ids.New(8);
        db.Users.Update(user);
        return db.Tokens.DeleteMany(t => t.Username == user.Username);
    }

    /// <summary>Disables or enables a user; disabling also ends their sessions (their tokens are refused while disabled).</summary>
    public void SetDisabled(UserRecord user, bool disabled)
    {
        user.Disabled = disabled;
        if (disabled) user.SessionStamp = Ids.New(8);
        db.Users.Update(user);
    }

    public (TokenRecord Record, string Secret) CreateToken(string username, string name, IEnumerable<string> scopes)
    {
        var secret = TokenSecrets.New();
        var record = new TokenRecord
        {
            Id = Ids.New(8), Username = username, Name = name, Hash = TokenSecrets.HashOf(secret),
            Scopes = scopes.Distinct().OrderBy(s => Array.IndexOf(Scopes.All, s)).ToList(),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.Tokens.Insert(record);
        return (record, secret);
    }

    public TokenRecord? FindTokenBySecret(string secret)
    {
        var hash = TokenSecrets.HashOf(secret);
        return db.Tokens.FindOne(t => t.Hash == hash);
    }

    public void TouchToken(TokenRecord token)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (token.LastUsedAt is { } last && now - last < TimeSpan.FromSeconds(10)) return;
        token.LastUsedAt = now;
        db.Tokens.Update(token);
    }

    public IEnumerable<TokenRecord> TokensOf(string username) =>
        db.Tokens.Find(t => t.Username == username).OrderBy(t => t.CreatedAt);

    /// <summary>Revokes a token of <paramref name="username"/> (of anyone with <paramref name="anyOwner"/>); false when there is no such token.</summary>
    public bool RevokeToken(string username, string id, bool anyOwner = false)
    {
        var token = db.Tokens.FindById(id);
        if (token is null || (token.Username != username && !anyOwner)) return false;
        return db.Tokens.Delete(id);
    }

    public TeamRecord CreateTeam(string name, string creator)
    {
        var team = new TeamRecord { Id = name, Name = name, Members = [creator], CreatedAt = time.GetUtcNow().UtcDateTime };
        db.Teams.Insert(team);
        return team;
    }

    public void SaveTeam(TeamRecord team) => db.Teams.Update(team);

    public IEnumerable<TeamRecord> TeamsOf(string username) =>
        db.Teams.FindAll().Where(t => t.Members.Contains(username)).OrderBy(t => t.Name);

    public bool IsMember(string team, string username) => FindTeam(team)?.Members.Contains(username) == true;
}

/// <summary>Creates the first admin on the first start (password from configuration, or generated and logged once).</summary>
internal sealed class AdminBootstrap(Accounts accounts, FeatherDb db, FeatherOptions options, ILogger<AdminBootstrap> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        if (db.Users.Count() > 0) return Task.CompletedTask;
        var password = options.AdminPassword;
        accounts.CreateUser("admin", password ?? (password = Passwords.Generate()), isAdmin: true);
        if (options.AdminPassword is null)
            logger.LogWarning("Created the admin account {Username} with the generated password {Password}; it is shown only this once",
                "admin", password);
        else
            logger.LogInformation("Created the admin account {Username} with the password from FEATHER_ADMIN_PASSWORD", "admin");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

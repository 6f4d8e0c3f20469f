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

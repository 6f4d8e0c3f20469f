namespace Feather.Server.Auth;

public sealed class UserRecord
{
    public string Id { get; set; } = "";
    public string Username { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public bool IsAdmin { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>A disabled user cannot sign in, and their tokens and sessions are refused.</summary>
    public bool Disabled { get; set; }
    /// <summary>
    /// Changes when every portal session of the user must end (sign out everywhere, password
    /// change, disable); each session cookie carries the stamp it was issued with.
    /// </summary>
    public string SessionStamp { get; set; } = "";
    /// <summary>The last addresses the user signed in from with a password (see <see cref="LoginThrottle"/>).</summary>
    public List<string> SignInAddresses { get; set; } = [];
}

/// <summary>An API token; only the SHA-256 of the secret is kept.</summary>
public sealed class TokenRecord
{
    public string Id { get; set; } = "";
    public string Username { get; set; } = "";
    public string Name { get; set; } = "";
    public string Hash { get; set; } = "";
    public List<string> Scopes { get; set; } = [];
    public DateTime CreatedAt { get; set; }
    public DateTime? LastUsedAt { get; set; }
}

public sealed class TeamRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public List<string> Members { get; set; } = [];
    public DateTime CreatedAt { get; set; }
}

public static class Scopes
{
    public const string Read = "read";
    public const string Run = "run";
    public const string Publish = "publish";
    public const string Admin = "admin";
    public static readonly string[] All = [Read, Run, Publish, Admin];
    public static readonly string[] Default = [Read, Run, Publish];
}

public static class Names
{
    /// <summary>User, team and model names: [a-z0-9][a-z0-9-]{0,62}.</summary>
    public static bool IsValid(string? name) =>
        name is { Length: >= 1 and <= 63 } && (char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0])) &&
        name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    public const string Rule = "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters";
}

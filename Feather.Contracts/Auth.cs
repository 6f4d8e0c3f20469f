namespace Feather.Contracts;

public sealed record CreateTokenRequest(string? Username = null, string? Password = null, string? Name = null, string[]? Scopes = null);
public sealed record CreatedToken(string Id, string Token, string Name, string[] Scopes, DateTime CreatedAt);
public sealed record TokenInfo(string Id, string Name, string[] Scopes, DateTime CreatedAt, DateTime? LastUsedAt);
public sealed record Me(string Username, bool IsAdmin, string[] Teams, string[] Scopes);
public sealed record CreateUserRequest(string Username, string Password, bool IsAdmin = false);
public sealed record UserInfo(string Username, bool IsAdmin, DateTime CreatedAt, bool Disabled);
public sealed record ChangePasswordRequest(string? CurrentPassword, string? NewPassword);
public sealed record SignedOutEverywhere(string Username, int TokensRevoked);
public sealed record CreateTeamRequest(string Name);
public sealed record AddMemberRequest(string Username);
public sealed record TeamInfo(string Name, string[] Members, DateTime CreatedAt);

public sealed record LoginRequest(string Username, string Password);
public sealed record SessionInfo(string Username, bool IsAdmin);
public sealed record AntiforgeryInfo(string Token, string HeaderName);

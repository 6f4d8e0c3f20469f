using System.Collections.Concurrent;

namespace Feather.Server.Auth;

/// <summary>
/// Slows password guessing: after <see cref="MaxFailures"/> wrong passwords in a minute from one
/// address, or for one username, further password attempts are refused with 429 for the rest of
/// that minute, before any password is hashed (hashing is deliberately expensive). Successful
/// sign-ins are not counted, so scripts that log in often are not affected.
/// </summary>
public sealed class LoginThrottle(TimeProvider clock)
{
    public const int MaxFailures = 10;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (DateTimeOffset Start, int Count)> failures = new();

    /// <summary>Seconds to wait when attempts from <paramref name="address"/> or for <paramref name="username"/> are blocked, else null.</summary>
    public int? RetryAfter(string? address, string username)
    {
        var now = clock.GetUtcNow();
        int? wait = null;
        foreach (var key in Keys(address, username))
            if (failures.TryGetValue(key, out var f) && now - f.Start < Window && f.Count >= MaxFailures)
                wait = Math.Max(wait ?? 0, (int)Math.Ceiling((Window - (now - f.Start)).TotalSeconds));
        return wait;
    }

    public void Failed(string? address, string username)
    {
        var now = clock.GetUtcNow();
        foreach (var key in Keys(address, username))
            failures.AddOrUpdate(key, _ => (now, 1), (_, f) => now - f.Start >= Window ? (now, 1) : (f.Start, f.Count + 1));
        if (failures.Count > 10_000) // forget finished windows so the table cannot grow without bound
            foreach (var (key, f) in failures)
                if (now - f.Start >= Window) failures.TryRemove(key, out _);
    }

    private static IEnumerable<string> Keys(string? address, string username) =>
        [$"ip:{address ?? "unknown"}", $"user:{username.ToLowerInvariant()}"];
}

using System.Collections.Concurrent;

namespace Feather.Server.Auth;

/// <summary>
/// Slows password guessing without letting a guesser lock the owner out. Wrong passwords are
/// counted per minute under three keys, and a password attempt is refused with 429 (before any
/// password is hashed; hashing is deliberately expensive) when one of the keys that applies to it
/// is full:
/// <list type="bullet">
/// <item>the pair (address, account): <see cref="PairFailures"/>; one address guessing one account;</item>
/// <item>the address, across all accounts: <see cref="AddressFailures"/>; one address trying many names;</item>
/// <item>the account, counting only wrong passwords from addresses that never signed in to it:
/// <see cref="AccountFailures"/>; many addresses guessing one account. This key is checked only
/// for such unknown addresses, so the owner still signs in from an address they used before while
/// others hammer the account.</item>
/// </list>
/// Successful sign-ins are not counted, so scripts that log in often are not affected.
/// </summary>
public sealed class LoginThrottle(TimeProvider clock)
{
    public const int PairFailures = 5;
    public const int AddressFailures = 20;
    public const int AccountFailures = 10;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (DateTimeOffset Start, int Count)> failures = new();

    /// <summary>
    /// Seconds to wait when password attempts from <paramref name="address"/> for <paramref name="username"/>
    /// are blocked, else null. <paramref name="knownAddress"/>: the account has signed in from this address before.
    /// </summary>
    public int? RetryAfter(string? address, string username, bool knownAddress)
    {
        var now = clock.GetUtcNow();
        int? wait = null;
        foreach (var (key, limit) in Keys(address, username, knownAddress))
            if (failures.TryGetValue(key, out var f) && now - f.Start < Window && f.Count >= limit)
                wait = Math.Max(wait ?? 0, (int)Math.Ceiling((Window - (now - f.Start)).TotalSeconds));
        return wait;
    }

    /// <summary>Counts a wrong password from <paramref name="address"/> for <paramref name="username"/>.</summary>
    public void Failed(string? address, string username, bool knownAddress)
    {
        var now = clock.GetUtcNow();
        foreach (var (key, _) in Keys(address, username, knownAddress))
            failures.AddOrUpdate(key, _ => (now, 1), (_, f) => now - f.Start >= Window ? (now, 1) : (f.Start, f.Count + 1));
        if (failures.Count > 10_000) // forget finished windows so the table cannot grow without bound
            foreach (var (key, f) in failures)
                if (now - f.Start >= Window) failures.TryRemove(key, out _);
    }

    private static IEnumerable<(string Key, int Limit)> Keys(string? address, string username, bool knownAddress)
    {
        var ip = address ?? "unknown";
        var user = username.ToLowerInvariant();
        yield return ($"pair:{ip}|{user}", PairFailures);
        yield return ($"ip:{ip}", AddressFailures);
        if (!knownAddress) yield return ($"user:{user}", AccountFailures);
    }
}

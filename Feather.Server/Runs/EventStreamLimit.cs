using System.Threading.RateLimiting;
using Feather.Server.Auth;
using Feather.Server.Configuration;

namespace Feather.Server.Runs;

/// <summary>
/// Caps the server-sent event streams one client holds open at once (<c>FEATHER_MAX_EVENT_STREAMS</c>):
/// per user when signed in, else per remote address (the forwarded client's behind a trusted proxy).
/// A concurrency limiter per client from System.Threading.RateLimiting, without a queue.
/// </summary>
public sealed class EventStreamLimit(FeatherOptions options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = options.MaxEventStreams, QueueLimit = 0,
        }));

    /// <summary>Streams one client may hold open.</summary>
    public int PerClient => options.MaxEventStreams;

    /// <summary>A lease to hold while the stream is open (dispose it at the end), or null when the client is at its cap.</summary>
    public RateLimitLease? TryOpen(HttpContext http)
    {
        var lease = _limiter.AttemptAcquire(Key(http));
        if (lease.IsAcquired) return lease;
        lease.Dispose();
        return null;
    }

    private static string Key(HttpContext http) =>
        Caller.From(http.User).Username is { } user ? "user:" + user : "ip:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    public void Dispose() => _limiter.Dispose();
}

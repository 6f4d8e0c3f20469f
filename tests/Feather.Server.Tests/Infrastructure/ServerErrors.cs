using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace Feather.Server.Tests.Infrastructure;

/// <summary>
/// The exceptions behind the test servers' 500 answers, by the trace id their problem detail carries, so that a test
/// that gets a 500 fails with the server's stack trace instead of "An error occurred" (see <see cref="Http.Json"/>).
/// </summary>
public static class ServerErrors
{
    private static readonly ConcurrentDictionary<string, string> ByTrace = new(StringComparer.Ordinal);

    public static string? Find(string traceId) => ByTrace.TryGetValue(traceId, out var text) ? text : null;

    /// <summary>Records the exception and lets the server's own handler answer (a problem detail) as it always does.</summary>
    public sealed class Recorder : IExceptionHandler
    {
        public ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
        {
            if (ByTrace.Count > 1000) ByTrace.Clear();
            ByTrace[Activity.Current?.Id ?? http.TraceIdentifier] = $"{http.Request.Method} {http.Request.Path}: {exception}";
            return ValueTask.FromResult(false);
        }
    }
}

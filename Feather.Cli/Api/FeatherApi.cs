using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Config;
using Feather.Contracts;

namespace Feather.Cli.Api;

/// <summary>The typed answer of a call: the HTTP status, the body read as the contract's record, and the body as sent.</summary>
public sealed record Answer<T>(HttpStatusCode Status, T Value, JsonNode? Body);

/// <summary>
/// The server's HTTP API (docs/contracts.md section 5). The typed calls read the answers as the
/// records of Feather.Contracts (the server's own records, with its JSON options) and take their
/// paths from <see cref="Routes"/>. Every failure becomes a <see cref="CliException"/> whose
/// message says what went wrong and what to do.
/// </summary>
public sealed class FeatherApi(HttpClient http, ServerSettings settings)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(100);

    public ServerSettings Settings { get; } = settings;
    public HttpClient Http { get; } = http;

    public static HttpClient CreateHttpClient()
    {
        var client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("feather-cli", typeof(FeatherApi).Assembly.GetName().Version?.ToString(3)));
        return client;
    }

    public Uri Resolve(string pathOrUrl) =>
        Uri.TryCreate(pathOrUrl, UriKind.Absolute, out var absolute) && absolute.Scheme.StartsWith("http", StringComparison.Ordinal)
            ? absolute
            : new Uri(Settings.Url, pathOrUrl.TrimStart('/'));

    public void RequireLogin()
    {
        if (Settings.Token is null)
            throw new CliException(ExitCodes.NotLoggedIn, $"not logged in to {Settings.Display}",
                $"run `feather login {Settings.Display}` (or set FEATHER_TOKEN)");
    }

    public async Task<T> GetAsync<T>(string path, CancellationToken ct) => (await SendAsync<T>(HttpMethod.Get, path, null, ct)).Value;
    public async Task<T> PostAsync<T>(string path, object? body, CancellationToken ct) => (await SendAsync<T>(HttpMethod.Post, path, body, ct)).Value;

    /// <summary>Sends a request and reads a 2xx answer as <typeparamref name="T"/>; anything else throws.</summary>
    public async Task<Answer<T>> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct,
        TimeSpan? timeout = null, Action<HttpRequestMessage>? configure = null, bool authenticate = true)
    {
        var (status, json) = await SendForStatusAsync(method, path, body, ct, timeout, configure, authenticate);
        T? value;
        try { value = json is null ? default : json.Deserialize<T>(ContractJson.Options); }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Error, $"the server's answer to {method} {path} is not the {typeof(T).Name} this CLI expects ({e.Message})",
                "is the CLI older or newer than the server? use the CLI of the server's release");
        }
        if (value is null)
            throw new CliException(ExitCodes.Error, $"the server answered {method} {path} with no {typeof(T).Name}",
                "is FEATHER_URL (or the URL given to `feather login`) really a Feather server?");
        return new Answer<T>(status, value, json);
    }

    public Task<JsonNode?> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, ct);
    public Task<JsonNode?> PostAsync(string path, object? body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, ct);
    public Task<JsonNode?> PutAsync(string path, object? body, CancellationToken ct) => SendAsync(HttpMethod.Put, path, body, ct);
    public Task<JsonNode?> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, ct);

    public async Task<JsonNode?> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct,
        TimeSpan? timeout = null, Action<HttpRequestMessage>? configure = null, bool authenticate = true)
    {
        var (status, json) = await SendForStatusAsync(method, path, body, ct, timeout, configure, authenticate);
        return json;
    }

    /// <summary>Sends a request and returns the status and JSON body of a 2xx answer; anything else throws.</summary>
    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendForStatusAsync(HttpMethod method, string path, object? body,
        CancellationToken ct, TimeSpan? timeout = null, Action<HttpRequestMessage>? configure = null, bool authenticate = true)
    {
        using var request = new HttpRequestMessage(method, Resolve(path));
        if (authenticate && Settings.Token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.Token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            var text = body is JsonNode node ? node.ToJsonString(Json.Options) : JsonSerializer.Serialize(body, body.GetType(), Json.Options);
            request.Content = new StringContent(text, Encoding.UTF8, "application/json");
        }
        configure?.Invoke(request);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var limit = timeout ?? DefaultTimeout;
        cts.CancelAfter(limit);
        try
        {
            using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token);
            var content = await response.Content.ReadAsStringAsync(cts.Token);
            if (!response.IsSuccessStatusCode) throw ErrorFor(response.StatusCode, content, method, path);
            return (response.StatusCode, ParseBody(content, method, path));
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable, $"the server at {Settings.Display} did not answer {method} {path} within {limit.TotalSeconds:0}s",
                "is the server overloaded or stuck? check its logs and try again");
        }
    }

    private static JsonNode? ParseBody(string content, HttpMethod method, string path)
    {
        if (string.IsNullOrWhiteSpace(content)) return null;
        try { return JsonNode.Parse(content); }
        catch (JsonException)
        {
            throw new CliException(ExitCodes.Error, $"the server answered {method} {path} with something that is not JSON",
                "is FEATHER_URL (or the URL given to `feather login`) really a Feather server?");
        }
    }

    public CliException Unreachable(Exception e)
    {
        var reason = e.InnerException is SocketException socket ? socket.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.HostNotFound or SocketError.NoData => "unknown host",
            SocketError.TimedOut => "connection timed out",
            _ => socket.Message,
        } : e.Message;
        return new CliException(ExitCodes.Unreachable, $"cannot reach the Feather server at {Settings.Display} ({reason})",
            "is the server running? start it with ./run.sh, or point the CLI at yours with `feather login URL` or FEATHER_URL", e);
    }

    /// <summary>Turns a non-2xx answer (ideally RFC 7807 problem details) into a message that names the step and input.</summary>
    public CliException ErrorFor(HttpStatusCode status, string content, HttpMethod method, string path)
    {
        JsonNode? problem = null;
        try { problem = string.IsNullOrWhiteSpace(content) ? null : JsonNode.Parse(content); }
        catch (JsonException) { }
        var obj = problem as JsonObject;
        var title = obj?["title"]?.GetValueKind() == JsonValueKind.String ? obj["title"]!.GetValue<string>() : null;
        var detail = obj?["detail"]?.GetValueKind() == JsonValueKind.String ? obj["detail"]!.GetValue<string>() : null;
        var summary = (title, detail) switch
        {
            (not null, not null) when title != detail => $"{title}: {detail}",
            (_, not null) => detail,
            (not null, null) => title,
            _ => $"{(int)status} {status}",
        };
        var message = new StringBuilder(summary);
        foreach (var line in ProblemLines(obj)) message.Append('\n').Append("  ").Append(line);

        var (code, hint) = status switch
        {
            HttpStatusCode.Unauthorized => (ExitCodes.NotLoggedIn, Settings.Token is null
                ? $"run `feather login {Settings.Display}` (or set FEATHER_TOKEN)"
                : $"your token was refused (expired or revoked?): run `feather login {Settings.Display}` again"),
            HttpStatusCode.Forbidden => (ExitCodes.Forbidden, "your account or token lacks the permission; ask the model's owner or an admin, or log in with a token that has the needed scope"),
            HttpStatusCode.NotFound => (ExitCodes.NotFound, (string?)"check the name with `feather models list` (private models are only visible to their owners)"),
            HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => (ExitCodes.ValidationFailed, (string?)null),
            HttpStatusCode.Conflict => (ExitCodes.Conflict, (string?)null),
            HttpStatusCode.RequestEntityTooLarge => (ExitCodes.ValidationFailed, "the server's size limit is lower than this request"),
            _ => (ExitCodes.Error, $"the server failed on {method} {path}; its log has the details"),
        };
        if (status == HttpStatusCode.Unauthorized && title is null && detail is null) message.Clear().Append("the server requires you to log in (401)");
        if (status == HttpStatusCode.NotFound && title is null && detail is null) message.Clear().Append($"not found: {path}");
        return new CliException(code, message.ToString(), hint) { Problem = problem };
    }

    /// <summary>Lines for the validation errors of a problem: <c>step 1, input "objects": message</c>.</summary>
    public static IEnumerable<string> ProblemLines(JsonObject? problem)
    {
        if (problem is null) yield break;
        var where = Where(problem);
        if (where.Length > 0 && problem["errors"] is null) yield return where.TrimEnd(':', ' ');
        switch (problem["errors"])
        {
            case JsonArray errors:
                foreach (var error in errors)
                {
                    if (error is JsonObject item)
                    {
                        var message = item["message"]?.ToString() ?? item["detail"]?.ToString() ?? item.ToJsonString();
                        yield return Where(item) + message;
                    }
                    else if (error is not null) yield return error.ToString();
                }
                break;
            case JsonObject byField:
                foreach (var (field, messages) in byField)
                {
                    var texts = messages is JsonArray list ? list.Select(m => m?.ToString()) : [messages?.ToString()];
                    foreach (var text in texts) yield return $"{(field.Length > 0 ? field + ": " : "")}{text}";
                }
                break;
        }
    }

    private static string Where(JsonObject item)
    {
        var parts = new List<string>();
        if (item["step"] is { } step) parts.Add($"step {step}");
        if (item["input"] is { } input) parts.Add($"input \"{input}\"");
        if (item["field"] is { } field) parts.Add($"field \"{field}\"");
        if (item["path"] is { } p) parts.Add($"file \"{p}\"");
        return parts.Count == 0 ? "" : string.Join(", ", parts) + ": ";
    }
}

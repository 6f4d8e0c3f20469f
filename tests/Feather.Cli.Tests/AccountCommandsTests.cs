using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Feather.Cli.Tests;

/// <summary>`feather password`, `feather users disable|enable|list` and `feather logout --everywhere` against a loopback server.</summary>
public sealed class AccountCommandsTests : IAsyncLifetime
{
    private const string Token = "ftr_alice";
    private WebApplication _app = null!;
    private readonly ConcurrentQueue<(string Call, JsonNode? Body)> _calls = new();
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _home = Directory.CreateTempSubdirectory("feather-cli-").FullName;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            var body = context.Request.ContentLength > 0 ? await JsonNode.ParseAsync(context.Request.Body) : null;
            _calls.Enqueue(($"{context.Request.Method} {context.Request.Path}", body));
            if (context.Request.Path != "/api/auth/tokens" && context.Request.Headers.Authorization != $"Bearer {Token}")
            {
                await Results.Problem(title: "Unauthorized", statusCode: 401).ExecuteAsync(context);
                return;
            }
            context.Items["body"] = body;
            await next();
        });
        _app.MapPost("/api/auth/tokens", () => Results.Json(new { id = "t1", token = Token, name = "cli", scopes = new[] { "read" }, createdAt = "2025-01-31T10:00:00Z" }, statusCode: 201));
        _app.MapGet("/api/me", () => Results.Json(new { username = "alice", isAdmin = true, teams = Array.Empty<string>(), scopes = new[] { "read" } }));
        _app.MapPost("/api/auth/password", (HttpContext http) =>
            (string?)((JsonNode?)http.Items["body"])?["currentPassword"] == "old-password"
                ? Results.NoContent()
                : Results.Problem(title: "Forbidden", detail: "the current password is wrong", statusCode: 403));
        _app.MapPost("/api/auth/logout-everywhere", () => Results.Json(new { username = "alice", tokensRevoked = 3 }));
        _app.MapGet("/api/users", () => Results.Json(new[]
        {
            new { username = "alice", isAdmin = true, createdAt = "2025-01-31T10:00:00Z", disabled = false },
            new { username = "mallory", isAdmin = false, createdAt = "2025-01-31T10:00:00Z", disabled = true },
        }));
        _app.MapPost("/api/users/{name}/disable", (string name) => name == "nobody"
            ? Results.Problem(title: "Not found", detail: "no user named 'nobody'", statusCode: 404)
            : Results.Json(new { username = name, isAdmin = false, createdAt = "2025-01-31T10:00:00Z", disabled = true }));
        _app.MapPost("/api/users/{name}/enable", (string name) =>
            Results.Json(new { username = name, isAdmin = false, createdAt = "2025-01-31T10:00:00Z", disabled = false }));
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private Dictionary<string, string> Env(bool withToken = true)
    {
        var env = new Dictionary<string, string> { ["HOME"] = _home, ["FEATHER_URL"] = _app.Urls.First() };
        if (withToken) env["FEATHER_TOKEN"] = Token;
        return env;
    }

    [Fact]
    public async Task Password_sends_the_current_and_the_new_password_and_reports_a_wrong_one()
    {
        var ok = await InProcess.RunAsync(["password", "--password-stdin"], Env(), stdin: "old-password\nnew-password-2\n");
        Assert.True(ok.ExitCode == 0, ok.Err);
        Assert.Contains("password changed", ok.Out);
        var sent = _calls.Single(c => c.Call == "POST /api/auth/password").Body!;
        Assert.Equal("old-password", (string?)sent["currentPassword"]);
        Assert.Equal("new-password-2", (string?)sent["newPassword"]);

        var wrong = await InProcess.RunAsync(["password", "--password-stdin"], Env(), stdin: "guess\nnew-password-2\n");
        Assert.Equal((int)ExitCodes.Forbidden, wrong.ExitCode);
        Assert.Contains("the current password is wrong", wrong.Err);

        var missing = await InProcess.RunAsync(["password", "--password-stdin"], Env(), stdin: "old-password\n");
        Assert.Equal((int)ExitCodes.Usage, missing.ExitCode);
        Assert.Contains("a password is empty", missing.Err);
    }

    [Fact]
    public async Task Users_disable_enable_and_list()
    {
        var disabled = await InProcess.RunAsync(["users", "disable", "mallory"], Env());
        Assert.True(disabled.ExitCode == 0, disabled.Err);
        Assert.Contains("disabled user mallory", disabled.Out);
        Assert.Contains(_calls, c => c.Call == "POST /api/users/mallory/disable");

        var unknown = await InProcess.RunAsync(["users", "disable", "nobody"], Env());
        Assert.Equal((int)ExitCodes.NotFound, unknown.ExitCode);
        Assert.Contains("no user named 'nobody'", unknown.Err);

        var enabled = await InProcess.RunAsync(["users", "enable", "mallory", "--json"], Env());
        Assert.False((bool)JsonNode.Parse(enabled.Out)!["disabled"]!);

        var list = await InProcess.RunAsync(["users", "list"], Env());
        Assert.Contains("mallory  no     disabled", list.Out);
        Assert.Contains("alice    yes    active", list.Out);
    }

    [Fact]
    public async Task Logout_everywhere_signs_out_on_the_server_and_forgets_the_login()
    {
        var login = await InProcess.RunAsync(["login", "--user", "alice", "--password-stdin"], Env(withToken: false), stdin: "old-password\n");
        Assert.True(login.ExitCode == 0, login.Err);

        var both = await InProcess.RunAsync(["logout", "--everywhere", "--keep-token"], Env(withToken: false));
        Assert.Equal((int)ExitCodes.Usage, both.ExitCode);

        var result = await InProcess.RunAsync(["logout", "--everywhere"], Env(withToken: false));
        Assert.True(result.ExitCode == 0, result.Err);
        Assert.Contains("signed alice out everywhere", result.Out);
        Assert.Contains("3 token(s) revoked", result.Out);
        Assert.Contains(_calls, c => c.Call == "POST /api/auth/logout-everywhere");
        Assert.DoesNotContain(_calls, c => c.Call.StartsWith("DELETE", StringComparison.Ordinal));

        var after = await InProcess.RunAsync(["whoami"], Env(withToken: false));
        Assert.Equal((int)ExitCodes.NotLoggedIn, after.ExitCode);
    }
}

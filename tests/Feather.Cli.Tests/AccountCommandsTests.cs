using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>
/// `feather password`, `feather users disable|enable|list`, `feather logout --everywhere` and a problem
/// detail with terminal escapes, against the real feather-server (one user per test, made by the admin).
/// </summary>
[Collection(RealServerCollection.Name)]
public sealed class AccountCommandsTests(RealServer server)
{
    /// <summary>An admin token with the admin scope (the suite's own token has read, run and publish).</summary>
    private async Task<string> AdminTokenAsync()
    {
        using var http = new HttpClient();
        using var answer = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = "admin", password = server.AdminPassword, name = "accounts", scopes = new[] { "read", "run", "publish", "admin" } });
        answer.EnsureSuccessStatusCode();
        return (await answer.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
    }

    /// <summary>A new user made by the admin, and the built CLI logged in as that user.</summary>
    private async Task<(string Name, string Password, BuiltCli Cli)> NewUserAsync(string prefix)
    {
        var name = $"{prefix}{Guid.NewGuid().ToString("N")[..8]}";
        var password = "first-password-1";
        using (var http = new HttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new("Bearer", await AdminTokenAsync());
            using var created = await http.PostAsJsonAsync($"{server.Url}/api/users", new { username = name, password });
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }
        var cli = server.Cli(token: "");
        cli.Environment.Remove("FEATHER_TOKEN");
        var login = await cli.RunWithStdinAsync(password + "\n", "login", "--user", name, "--password-stdin");
        Assert.True(login.ExitCode == 0, login.Err);
        return (name, password, cli);
    }

    [Fact]
    public async Task Password_changes_on_the_server_and_a_wrong_current_password_is_refused()
    {
        var (name, password, cli) = await NewUserAsync("pw");
        using (cli)
        {
            var wrong = await cli.RunWithStdinAsync("guess-wrong\nnew-password-2\n", "password", "--password-stdin");
            Assert.Equal((int)ExitCodes.Forbidden, wrong.ExitCode);

            var missing = await cli.RunWithStdinAsync(password + "\n", "password", "--password-stdin");
            Assert.Equal((int)ExitCodes.Usage, missing.ExitCode);
            Assert.Contains("a password is empty", missing.Err);

            var ok = await cli.RunWithStdinAsync($"{password}\nnew-password-2\n", "password", "--password-stdin");
            Assert.True(ok.ExitCode == 0, ok.Err);
            Assert.Contains("password changed", ok.Out);
        }

        using var http = new HttpClient();
        using var old = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens", new { username = name, password, name = "x" });
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, old.StatusCode);
        using var fresh = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens", new { username = name, password = "new-password-2", name = "x" });
        Assert.Equal(System.Net.HttpStatusCode.Created, fresh.StatusCode);
    }

    [Fact]
    public async Task Users_disable_enable_and_list()
    {
        var (name, _, userCli) = await NewUserAsync("dis");
        using var _ = userCli;
        using var admin = server.Cli(await AdminTokenAsync());

        var disabled = await admin.RunAsync("users", "disable", name);
        Assert.True(disabled.ExitCode == 0, disabled.Err);
        Assert.Contains($"disabled user {name}", disabled.Out);
        var refused = await userCli.RunAsync("whoami");
        Assert.NotEqual(0, refused.ExitCode);

        var list = await admin.RunAsync("users", "list");
        Assert.Matches($@"{name}\s+no\s+disabled", list.Out);
        Assert.Matches(@"admin\s+yes\s+active", list.Out);

        var unknown = await admin.RunAsync("users", "disable", "nobody-here");
        Assert.Equal((int)ExitCodes.NotFound, unknown.ExitCode);
        Assert.Contains("nobody-here", unknown.Err);

        var enabled = await admin.RunAsync("users", "enable", name, "--json");
        Assert.False((bool)JsonNode.Parse(enabled.Out)!["disabled"]!);
        var back = await userCli.RunAsync("whoami");
        Assert.True(back.ExitCode == 0, back.Err);
    }

    [Fact]
    public async Task Logout_everywhere_revokes_every_token_and_forgets_the_login()
    {
        var (name, password, cli) = await NewUserAsync("out");
        using (cli)
        {
            using var http = new HttpClient();
            using var created = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
                new { username = name, password, name = "second", scopes = new[] { "read" } });
            var second = (await created.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();

            var both = await cli.RunAsync("logout", "--everywhere", "--keep-token");
            Assert.Equal((int)ExitCodes.Usage, both.ExitCode);

            var result = await cli.RunAsync("logout", "--everywhere");
            Assert.True(result.ExitCode == 0, result.Err);
            Assert.Contains($"signed {name} out everywhere", result.Out);
            Assert.Contains("2 token(s) revoked", result.Out);

            var after = await cli.RunAsync("whoami");
            Assert.Equal((int)ExitCodes.NotLoggedIn, after.ExitCode);
            using var other = server.Cli(second);
            Assert.NotEqual(0, (await other.RunAsync("whoami")).ExitCode);
        }
    }

    [Fact]
    public async Task A_problem_detail_with_escape_sequences_is_printed_neutralised()
    {
        using var cli = server.Cli();
        var result = await cli.RunAsync("tokens", "revoke", "\u001b]0;owned\u0007\u001b[2Jx\u001b[8m");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("you have no token with id", result.Err);
        Assert.DoesNotContain('\u001b', result.Err);
        Assert.DoesNotContain('\u0007', result.Err);
    }
}

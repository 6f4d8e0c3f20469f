using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Feather.Cli.Tests;

/// <summary>
/// The contract suite for the CLI: the built CLI, as a process, against the REAL feather-server
/// (<see cref="RealServer"/>) with tests/models/contract published as admin/contract.
/// </summary>
[Collection(RealServerCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class CliAgainstServerTests(RealServer server)
{
    private static string Inputs(TempDir dir, string name) =>
        dir.File("inputs.json", $$$"""{"steps": [{"name": {"texts": ["{{{name}}}"]}}, {}]}""");

    [Fact]
    public async Task Login_with_password_stores_a_0600_token_that_whoami_uses_and_logout_revokes()
    {
        using var cli = new BuiltCli(server.Url);
        var login = await cli.RunWithStdinAsync(server.AdminPassword + "\n", "login", "--user", "admin", "--password-stdin");
        Assert.True(login.ExitCode == 0, login.Err);
        Assert.Contains($"logged in to {server.Url} as admin", login.Out);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cli.CredentialsFile));
        var token = (string)JsonNode.Parse(File.ReadAllText(cli.CredentialsFile))!["token"]!;

        var whoami = await cli.RunAsync("whoami");
        Assert.Equal(0, whoami.ExitCode);
        Assert.Contains("admin (admin) on " + server.Url, whoami.Out);
        var json = JsonNode.Parse((await cli.RunAsync("whoami", "--json")).Out)!;
        Assert.Equal("admin", (string?)json["username"]);
        Assert.True((bool)json["isAdmin"]!);

        var logout = await cli.RunAsync("logout");
        Assert.Equal(0, logout.ExitCode);
        Assert.Contains("(token revoked)", logout.Out);
        Assert.False(File.Exists(cli.CredentialsFile));

        var after = await cli.RunAsync("whoami");
        Assert.Equal((int)ExitCodes.NotLoggedIn, after.ExitCode);
        Assert.Contains("run `feather login", after.Err);
        cli.Environment["FEATHER_TOKEN"] = token;
        var revoked = await cli.RunAsync("whoami");
        Assert.Equal((int)ExitCodes.NotLoggedIn, revoked.ExitCode);
        Assert.Contains("your token was refused", revoked.Err);
    }

    [Fact]
    public async Task A_wrong_password_says_so_and_stores_nothing()
    {
        using var cli = new BuiltCli(server.Url);
        var wrong = await cli.RunWithStdinAsync("not-the-password\n", "login", "--user", "admin", "--password-stdin");
        Assert.Equal((int)ExitCodes.NotLoggedIn, wrong.ExitCode);
        Assert.Contains("refused the username or password", wrong.Err);
        Assert.False(File.Exists(cli.CredentialsFile));
    }

    [Fact]
    public async Task An_unreachable_server_is_reported_with_what_to_do()
    {
        using var cli = new BuiltCli("http://127.0.0.1:9");
        cli.Environment["FEATHER_TOKEN"] = "x";
        var result = await cli.RunAsync("models", "list");
        Assert.Equal((int)ExitCodes.Unreachable, result.ExitCode);
        Assert.Contains("cannot reach the Feather server at http://127.0.0.1:9 (connection refused)", result.Err);
        Assert.Contains("is the server running?", result.Err);
    }

    [Fact]
    public async Task Tokens_are_created_listed_and_revoked()
    {
        using var cli = server.Cli();
        var created = await cli.RunAsync("tokens", "create", "ci-pipeline", "--scope", "read");
        Assert.True(created.ExitCode == 0, created.Err);
        var match = Regex.Match(created.Out, @"created token (\S+) \(ci-pipeline, scopes: read\)\n(\S+)\n");
        Assert.True(match.Success, created.Out);
        var (id, secret) = (match.Groups[1].Value, match.Groups[2].Value);

        var list = await cli.RunAsync("tokens", "list");
        Assert.Matches($@"{Regex.Escape(id)}\s+ci-pipeline\s+read\s+\d{{4}}-\d\d-\d\d \d\d:\d\dZ\s+never", list.Out);
        var json = JsonNode.Parse((await cli.RunAsync("tokens", "list", "--json")).Out)!.AsArray();
        Assert.Contains(json, t => (string?)t!["id"] == id && t["lastUsedAt"] is null);

        using var other = server.Cli(secret);
        Assert.Equal(0, (await other.RunAsync("models", "list")).ExitCode);
        var revoke = await cli.RunAsync("tokens", "revoke", id);
        Assert.Equal(0, revoke.ExitCode);
        Assert.Contains($"revoked token {id}", revoke.Out);
        Assert.Equal((int)ExitCodes.NotLoggedIn, (await other.RunAsync("models", "list", "--json")).ExitCode);
    }

    [Fact]
    public async Task Publish_uploads_only_what_the_server_lacks_and_follows_the_build()
    {
        using var cli = server.Cli();
        using var model = new TempDir();
        var source = File.ReadAllText(Path.Combine(RealServer.RepoRoot, "tests", "models", "contract", "model.py"));
        model.File("model.py", source.Replace("name=\"contract\"", "name=\"contract-copy\""));

        var first = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", model.Path, "--notes", "first", "--visibility", "public", "--tag", "paper", "--wait");
        Assert.True(first.ExitCode == 0, first.Out + first.Err);
        Assert.Contains("published admin/contract-copy version 1", first.Out);
        Assert.Contains($"url:   {server.Url}/api/models/admin/contract-copy/versions/1", first.Out);
        Assert.Contains("image: ready", first.Out);
        Assert.Contains("tagged version 1 as paper", first.Out);

        var second = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", model.Path, "--notes", "again");
        Assert.True(second.ExitCode == 0, second.Out + second.Err);
        Assert.Contains("model.py: already stored, skipped", second.Out);
        Assert.Contains("published admin/contract-copy version 2", second.Out);

        var versions = await cli.RunAsync("versions", "list", "admin/contract-copy");
        Assert.Matches(@"\n2\s+\*\s+\S+ \S+\s+\w+\s+again", versions.Out);
        Assert.Matches(@"\n1\s+\S+ \S+\s+ready\s+paper\s+first", versions.Out);
        var detail = await server.SendAsync(HttpMethod.Get, "/api/models/admin/contract-copy");
        Assert.Equal("public", (string?)detail["visibility"]);
    }

    [Fact]
    public async Task Publish_with_no_promote_leaves_the_live_version_and_says_how_to_promote()
    {
        using var cli = server.Cli();
        using var model = new TempDir();
        var source = File.ReadAllText(Path.Combine(RealServer.RepoRoot, "tests", "models", "contract", "model.py"));
        model.File("model.py", source.Replace("name=\"contract\"", "name=\"contract-staged\""));

        var first = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", model.Path);
        Assert.True(first.ExitCode == 0, first.Out + first.Err);
        Assert.DoesNotContain("not live", first.Out);

        model.File("model.py", source.Replace("name=\"contract\"", "name=\"contract-staged\"") + "\n# version 2\n");
        var staged = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", model.Path, "--no-promote");
        Assert.True(staged.ExitCode == 0, staged.Out + staged.Err);
        Assert.Contains("not live: make it live with 'feather versions promote admin/contract-staged 2'", staged.Out);
        var detail = await server.SendAsync(HttpMethod.Get, "/api/models/admin/contract-staged");
        Assert.Equal(1, (int)detail["liveVersion"]!);
        Assert.Equal(2, (int)detail["latestVersion"]!);

        var promoted = await cli.RunAsync("versions", "promote", "admin/contract-staged", "2");
        Assert.True(promoted.ExitCode == 0, promoted.Out + promoted.Err);
        Assert.Equal(2, (int)(await server.SendAsync(HttpMethod.Get, "/api/models/admin/contract-staged"))["liveVersion"]!);
    }

    [Fact]
    public async Task Publish_with_a_model_that_does_not_inspect_shows_the_sdk_error()
    {
        using var cli = server.Cli();
        using var model = new TempDir();
        model.File("model.py", "import feather as ftr\n\n@ftr.step()\ndef greet(name: ftr.Text.In):\n    return 1\n");
        var result = await cli.RunAsync("publish", model.Path);
        Assert.Equal((int)ExitCodes.ValidationFailed, result.ExitCode);
        Assert.Contains("model.py:", result.Err);
        Assert.DoesNotContain("contract", (await cli.RunAsync("models", "list")).Out.Split('\n').Where(l => l.Contains("greet")));
    }

    [Fact]
    public async Task Run_submits_each_step_polls_the_202_answers_and_prints_the_outputs()
    {
        using var cli = server.Cli();
        using var dir = new TempDir();
        var result = await cli.RunAsync(TimeSpan.FromMinutes(4), "run", $"{RealServer.Model}@stable", "--inputs", Inputs(dir, "Ada"));
        Assert.True(result.ExitCode == 0, result.Out + result.Err);
        Assert.Matches(@"step 0 greet: succeeded \(\d+\.\ds\)\n  greeting \(Text\.View\):\n    texts:\n      Hello, Ada!\n", result.Out);
        Assert.Contains("step 1 echo: succeeded", result.Out);
        Assert.Contains("Hello, Ada! Again!", result.Out);
        Assert.Matches(@"^run \w+: admin/contract version 1, 2 step\(s\)\n", result.Out);

        var json = await cli.RunAsync(TimeSpan.FromMinutes(4), "run", RealServer.Model, "--inputs", Inputs(dir, "Bo"), "--json");
        Assert.Equal(0, json.ExitCode);
        var run = JsonNode.Parse(json.Out)!;
        Assert.Equal("succeeded", (string?)run["steps"]![1]!["status"]);
        Assert.Equal("Hello, Bo! Again!", (string?)run["steps"]![1]!["outputs"]![0]!["value"]!["texts"]![0]);

        var show = await cli.RunAsync("runs", "show", (string)run["id"]!);
        Assert.Matches(@"STEP\s+NAME\s+STATUS\s+STARTED\s+ENDED\n0\s+greet\s+succeeded\s+\d{4}-\d\d-\d\d \d\d:\d\dZ", show.Out);
        Assert.Contains("step 1 outputs:\n  echo (Text.View):", show.Out);
        var logs = await cli.RunAsync("runs", "logs", (string)run["id"]!, "--step", "0");
        Assert.Equal("== step 0 greet (succeeded)\ngreeting Bo\n", logs.Out);
    }

    [Fact]
    public async Task A_failed_step_stops_the_run_with_its_error_frames_and_logs()
    {
        using var cli = server.Cli();
        using var dir = new TempDir();
        var result = await cli.RunAsync(TimeSpan.FromMinutes(4), "run", RealServer.Model, "--inputs", Inputs(dir, "fail"));
        Assert.Equal((int)ExitCodes.StepFailed, result.ExitCode);
        Assert.Contains("step 0 greet: failed", result.Out);
        Assert.Contains("ValueError: no greeting for fail", result.Err);
        Assert.Matches(@"model\.py:\d+ in greet", result.Err);
        Assert.Contains("| greeting fail", result.Err);
        Assert.Matches(@"see `feather runs logs \w+`", result.Err);
        Assert.DoesNotContain("step 1", result.Out);
    }

    [Fact]
    public async Task A_refused_input_names_the_step_and_input()
    {
        using var cli = server.Cli();
        using var dir = new TempDir();
        var result = await cli.RunAsync("run", RealServer.Model, "--inputs", Inputs(dir, new string('x', 65)));
        Assert.Equal((int)ExitCodes.ValidationFailed, result.ExitCode);
        Assert.Contains("step 0 (greet), input 'name': texts[0]: Value should be at most 64 characters", result.Err);
    }

    [Fact]
    public async Task Runs_cancel_stops_the_running_step_through_the_servers_cancel_route()
    {
        var run = await server.SendAsync(HttpMethod.Post, "/api/models/admin/contract/runs", new { });
        var id = (string)run["id"]!;
        await server.SendAsync(HttpMethod.Post, $"/api/runs/{id}/steps/0", new { responses = new { name = new { texts = new[] { "slow" } } } });
        await server.WaitForStatusAsync(id, 0, "running");

        using var cli = server.Cli();
        var started = DateTime.UtcNow;
        var cancel = await cli.RunAsync("runs", "cancel", id);
        Assert.True(cancel.ExitCode == 0, cancel.Err);
        Assert.Equal($"cancelled step 0 of run {id}\n", cancel.Out);
        await server.WaitForStatusAsync(id, 0, "cancelled");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), "the step ran its 60 s sleep: it was not cancelled");

        var show = await cli.RunAsync("runs", "show", id);
        Assert.Matches(@"\n0\s+greet\s+cancelled", show.Out);
        var again = await cli.RunAsync("runs", "cancel", id);
        Assert.Equal((int)ExitCodes.Conflict, again.ExitCode);
        Assert.Contains($"run {id} has no queued or running step to cancel", again.Err);
    }

    [Fact]
    public async Task Models_and_versions_print_tables_or_json_and_404s_say_not_found()
    {
        using var cli = server.Cli();
        var list = await cli.RunAsync("models", "list");
        Assert.Equal(0, list.ExitCode);
        Assert.Matches(@"^MODEL\s+LIVE\s+VISIBILITY\s+DESCRIPTION\n", list.Out);
        Assert.Matches(@"\nadmin/contract\s+1\s+private\s+The contract suite's model\.\n", list.Out);
        var json = JsonNode.Parse((await cli.RunAsync("models", "list", "--json")).Out)!.AsArray();
        Assert.Contains(json, m => (string?)m!["name"] == "contract" && (int?)m["liveVersion"] == 1);

        var show = await cli.RunAsync("models", "show", RealServer.Model);
        Assert.Contains("admin/contract\n  The contract suite's model.\n  live version: 1   visibility: private\n  tags: task: text-generation\n", show.Out);
        Assert.Contains("  step 0 greet (Greet)\n    inputs:  name (Text.In)\n    outputs: greeting (Text.View)\n", show.Out);

        var versions = await cli.RunAsync("versions", "list", RealServer.Model);
        Assert.Matches(@"\n1\s+\*\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+ready\s+stable", versions.Out);
        var promote = await cli.RunAsync("versions", "promote", RealServer.Model, "1");
        Assert.Equal(0, promote.ExitCode);
        Assert.Contains("promoted: admin/contract now serves version 1", promote.Out);
        var tag = await cli.RunAsync("versions", "tag", RealServer.Model, "1", "paper-v1");
        Assert.Equal("tagged admin/contract version 1 as paper-v1\n", tag.Out);

        var missing = await cli.RunAsync("versions", "list", "admin/nope");
        Assert.Equal((int)ExitCodes.NotFound, missing.ExitCode);
        Assert.Contains("no model admin/nope", missing.Err);
    }
}

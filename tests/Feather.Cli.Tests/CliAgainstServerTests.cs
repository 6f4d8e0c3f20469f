using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>The built CLI, as a process, against a real HTTP server on loopback (the contract fixture).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class CliAgainstServerTests
{
    [Fact]
    public async Task Login_with_password_stores_a_0600_token_that_whoami_and_logout_use()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);

        var login = await cli.RunWithStdinAsync("s3cret\n", "login", "--user", "alice", "--password-stdin");
        Assert.True(login.ExitCode == 0, login.Err);
        Assert.Contains($"logged in to {server.Url} as alice", login.Out);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cli.CredentialsFile));
        Assert.Equal(ContractServer.Token, (string?)JsonNode.Parse(File.ReadAllText(cli.CredentialsFile))!["token"]);

        var whoami = await cli.RunAsync("whoami");
        Assert.Equal(0, whoami.ExitCode);
        Assert.Contains("alice (admin) on " + server.Url, whoami.Out);
        Assert.Contains("teams: vision-lab", whoami.Out);

        var logout = await cli.RunAsync("logout");
        Assert.Equal(0, logout.ExitCode);
        Assert.Contains("(token revoked)", logout.Out);
        Assert.Contains("DELETE /api/auth/tokens/t1", server.Requests);
        Assert.False(File.Exists(cli.CredentialsFile));

        var after = await cli.RunAsync("whoami");
        Assert.Equal((int)ExitCodes.NotLoggedIn, after.ExitCode);
        Assert.Contains("run `feather login", after.Err);
    }

    [Fact]
    public async Task Wrong_password_and_revoked_tokens_say_to_log_in()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        var wrong = await cli.RunWithStdinAsync("nope\n", "login", "--user", "alice", "--password-stdin");
        Assert.Equal((int)ExitCodes.NotLoggedIn, wrong.ExitCode);
        Assert.Contains("refused the username or password", wrong.Err);
        Assert.False(File.Exists(cli.CredentialsFile));

        cli.Environment["FEATHER_TOKEN"] = "revoked";
        var refused = await cli.RunAsync("whoami");
        Assert.Equal((int)ExitCodes.NotLoggedIn, refused.ExitCode);
        Assert.Contains("your token was refused", refused.Err);
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
    public async Task Publish_uploads_only_what_the_server_lacks_retries_a_failed_upload_and_follows_the_build()
    {
        await using var server = await ContractServer.StartAsync();
        server.FailFirstUploads = 1;
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var model = new TempDir();
        model.File("model.py", "import feather as ftr\n");
        var weights = new byte[300_000];
        new Random(7).NextBytes(weights);
        File.WriteAllBytes(Path.Combine(model.Path, "weights.npz"), weights);
        // stands in for the SDK's `python3 -m feather inspect` (contracts.md section 1) until python-sdk/ is merged
        using var sdk = new TempDir();
        sdk.File("feather/__init__.py", "");
        sdk.File("feather/__main__.py", """
            import json, sys
            assert sys.argv[1] == "inspect", sys.argv
            print(json.dumps({"schema_version": 1, "name": "hello", "description": "Greets you.", "entrypoint": "model.py",
                              "bundle": {"code": ["model.py"], "model": ["weights.npz"]}, "num_steps": 1, "steps": []}))
            """);
        cli.Environment["PYTHONPATH"] = sdk.Path;

        var result = await cli.RunAsync("publish", model.Path, "--notes", "first", "--visibility", "public", "--tag", "stable", "--wait");
        Assert.True(result.ExitCode == 0, result.Out + result.Err);
        Assert.Contains("model.py: already stored, skipped", result.Out);
        Assert.Contains("upload of weights.npz failed: 503", result.Err);
        Assert.Contains("uploaded weights.npz (293.0 KiB", result.Err);
        Assert.Contains("published alice/hello version 4", result.Out);
        Assert.Contains($"url:   {server.Url}/models/alice/hello/versions/4", result.Out);
        Assert.Contains("image: ready", result.Out);
        Assert.Contains("tagged version 4 as stable", result.Out);

        Assert.Equal(2, server.UploadAttempts);
        Assert.Equal(weights, server.Uploaded[Convert.ToHexStringLower(SHA256.HashData(weights))]);
        var files = server.LastPublish!["files"]!.AsArray();
        Assert.Equal(["model.py", "weights.npz"], files.Select(f => (string?)f!["path"]));
        Assert.Equal(300_000, (long?)files[1]!["size"]);
        Assert.Equal("first", (string?)server.LastPublish["notes"]);
        Assert.Equal("public", (string?)server.LastPublish["visibility"]);
        Assert.Equal("hello", (string?)server.LastPublish["metadata"]!["name"]);
        Assert.Equal(4, (int?)server.LastTag!["version"]);
    }

    [Fact]
    public async Task Publish_with_no_promote_asks_the_server_not_to_go_live_and_says_how_to_promote()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var model = new TempDir();
        model.File("model.py", "import feather as ftr\n");
        using var sdk = new TempDir();
        sdk.File("feather/__init__.py", "");
        sdk.File("feather/__main__.py", """
            import json
            print(json.dumps({"schema_version": 1, "name": "hello", "description": "Greets you.", "entrypoint": "model.py",
                              "bundle": {"code": ["model.py"], "model": []}, "num_steps": 1, "steps": []}))
            """);
        cli.Environment["PYTHONPATH"] = sdk.Path;

        var result = await cli.RunAsync("publish", model.Path, "--no-promote");
        Assert.True(result.ExitCode == 0, result.Out + result.Err);
        Assert.False((bool)server.LastPublish!["promote"]!);
        Assert.Contains("not live: make it live with 'feather versions promote alice/hello 4'", result.Out);

        var live = await cli.RunAsync("publish", model.Path);
        Assert.True(live.ExitCode == 0, live.Out + live.Err);
        Assert.True((bool)server.LastPublish!["promote"]!);
        Assert.DoesNotContain("not live", live.Out);
    }

    [Fact]
    public async Task Publish_with_a_model_that_does_not_inspect_shows_the_sdk_error()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var sdk = new TempDir();
        sdk.File("feather/__init__.py", "");
        sdk.File("feather/__main__.py", "import sys\nsys.stderr.write('model.py:3: step greet has no return annotation\\n')\nsys.exit(1)\n");
        cli.Environment["PYTHONPATH"] = sdk.Path;
        using var model = new TempDir();
        model.File("model.py", "");
        var result = await cli.RunAsync("publish", model.Path);
        Assert.Equal((int)ExitCodes.ValidationFailed, result.ExitCode);
        Assert.Contains("model.py:3: step greet has no return annotation", result.Err);
        Assert.DoesNotContain("POST /api/publish", server.Requests);
    }

    [Fact]
    public async Task Run_submits_each_step_polls_a_202_and_prints_text_and_binary_outputs()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var dir = new TempDir();
        var inputs = dir.File("inputs.json", """{"steps": [{"name": {"texts": ["Ada"]}}, {"style": {"selected": 1}}]}""");

        var result = await cli.RunAsync("run", "alice/hello@stable", "--inputs", inputs);
        Assert.True(result.ExitCode == 0, result.Out + result.Err);
        Assert.Contains("step 0 greet: succeeded (1.5s)", result.Out);
        Assert.Contains("    Hello, Ada", result.Out);
        Assert.Contains("step 1 draw: succeeded", result.Out);
        Assert.Contains("ada.png  image/png  2.0 KiB", result.Out);
        Assert.Equal("Ada", (string?)server.StepBodies[0]["responses"]!["name"]!["texts"]![0]);
        Assert.Equal(1, (int?)server.StepBodies[1]["responses"]!["style"]!["selected"]);
        Assert.Contains("GET /api/runs/r1", server.Requests);

        var json = await cli.RunAsync("run", "alice/hello", "--inputs", inputs, "--json");
        Assert.Equal(0, json.ExitCode);
        var run = JsonNode.Parse(json.Out)!;
        Assert.Equal("r1", (string?)run["id"]);
        Assert.Equal("succeeded", (string?)run["steps"]![1]!["status"]);
    }

    [Fact]
    public async Task A_failed_step_stops_the_run_with_its_error_frames_and_logs()
    {
        await using var server = await ContractServer.StartAsync();
        server.StepOneFails = true;
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var dir = new TempDir();
        var inputs = dir.File("inputs.json", """{"steps": [{"name": {"texts": ["Ada"]}}]}""");
        var result = await cli.RunAsync("run", "alice/hello", "--inputs", inputs);
        Assert.Equal((int)ExitCodes.StepFailed, result.ExitCode);
        Assert.Contains("step 1 draw: failed", result.Out);
        Assert.Contains("ZeroDivisionError: division by zero", result.Err);
        Assert.Contains("model.py:17 in draw", result.Err);
        Assert.Contains("| drawing", result.Err);
        Assert.Contains("feather runs logs r1", result.Err);
    }

    [Fact]
    public async Task A_refused_input_names_the_step_and_input()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;
        using var dir = new TempDir();
        var inputs = dir.File("inputs.json", """{"steps": [{"nme": {"texts": ["Ada"]}}]}""");
        var result = await cli.RunAsync("run", "alice/hello", "--inputs", inputs);
        Assert.Equal((int)ExitCodes.ValidationFailed, result.ExitCode);
        Assert.Contains("step 0, input \"name\": a text is required", result.Err);
    }

    [Fact]
    public async Task Models_and_versions_print_tables_or_json_and_404s_say_not_found()
    {
        await using var server = await ContractServer.StartAsync();
        using var cli = new BuiltCli(server.Url);
        cli.Environment["FEATHER_TOKEN"] = ContractServer.Token;

        var list = await cli.RunAsync("models", "list");
        Assert.Equal(0, list.ExitCode);
        var lines = list.Out.Split('\n');
        Assert.Equal("MODEL           LIVE  VISIBILITY  DESCRIPTION", lines[0]);
        Assert.Equal("alice/hello     4     public      Greets you.", lines[1]);
        Assert.Equal("vision-lab/vqg  -     private     Asks questions about images.", lines[2]);

        var json = await cli.RunAsync("models", "list", "--json");
        Assert.Equal(2, JsonNode.Parse(json.Out)!.AsArray().Count);

        var versions = await cli.RunAsync("versions", "list", "alice/hello");
        Assert.Contains("4        *     2025-01-31 10:00Z  ready  stable  faster", versions.Out);

        var promote = await cli.RunAsync("versions", "promote", "alice/hello", "4");
        Assert.Equal(0, promote.ExitCode);
        Assert.Contains("alice/hello now serves version 4", promote.Out);

        var missing = await cli.RunAsync("versions", "list", "alice/nope");
        Assert.Equal((int)ExitCodes.NotFound, missing.ExitCode);
        Assert.Contains("Not found: model alice/nope does not exist", missing.Err);
    }
}

namespace Feather.Cli.Tests;

public class ParsingTests
{
    private static readonly Dictionary<string, string> NoServer = new() { ["HOME"] = "/nonexistent-home", ["FEATHER_URL"] = "http://127.0.0.1:9" };

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("models", "list", "--no-such-option")]
    [InlineData("run", "alice/hello")]                       // --inputs is required
    [InlineData("login", "--token", "t", "--user", "u")]     // token and user exclude each other
    [InlineData("login", "--password-stdin")]                // needs --user
    [InlineData("versions", "promote", "alice/hello", "three")]
    [InlineData("publish", "--visibility", "everyone")]
    [InlineData("tokens", "create", "ci", "--scope", "admin")]
    public async Task Bad_command_lines_exit_with_usage_and_point_at_help(params string[] args)
    {
        var result = await InProcess.RunAsync(args, NoServer);
        Assert.Equal((int)ExitCodes.Usage, result.ExitCode);
        Assert.StartsWith("error: ", result.Err);
        Assert.Contains("--help` for usage", result.Err);
    }

    [Theory]
    [InlineData("alice/hello", "alice", "hello", null)]
    [InlineData("lab-team/vqg@3", "lab-team", "vqg", "3")]
    [InlineData("alice/hello@stable", "alice", "hello", "stable")]
    public void Model_references_parse(string text, string owner, string model, string? version) =>
        Assert.Equal(new Api.ModelRef(owner, model, version), Api.ModelRef.Parse(text));

    [Theory]
    [InlineData("hello")]
    [InlineData("alice/Hello")]
    [InlineData("alice/hello@")]
    [InlineData("/hello")]
    [InlineData("alice/hello/extra")]
    public void Malformed_model_references_are_usage_errors(string text)
    {
        var e = Assert.Throws<CliException>(() => Api.ModelRef.Parse(text));
        Assert.Equal(ExitCodes.Usage, e.Code);
        Assert.Contains("OWNER/MODEL", e.Hint);
    }

    [Fact]
    public async Task Run_with_a_malformed_reference_says_how_to_write_one()
    {
        using var dir = new TempDir();
        var inputs = dir.File("in.json", "{\"steps\":[]}");
        var result = await InProcess.RunAsync(["run", "not-a-ref", "--inputs", inputs], NoServer);
        Assert.Equal((int)ExitCodes.Usage, result.ExitCode);
        Assert.Contains("'not-a-ref' is not a model reference", result.Err);
    }

    [Fact]
    public async Task Help_lists_every_command()
    {
        var result = await InProcess.RunAsync(["--help"], NoServer);
        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "login", "logout", "whoami", "publish", "models", "versions", "run", "runs", "tokens", "password", "users", "feedback", "usage", "quotas" })
            Assert.Contains($"  {command}", result.Out);
    }

    [Fact]
    public async Task Feedback_usage_and_quotas_refuse_contradictory_options_before_any_call()
    {
        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["feedback"], "name the run"),
                     (["usage", "--user", "a", "--team", "b"], "--user and --team exclude each other"),
                     (["quotas", "set", "--steps-per-day", "3"], "name one --user or one --team"),
                 })
        {
            var result = await InProcess.RunAsync(args, NoServer);
            Assert.Equal((int)ExitCodes.Usage, result.ExitCode);
            Assert.Contains(message, result.Err);
        }
    }

    [Fact]
    public async Task Json_is_accepted_on_subcommands_and_errors_come_back_as_json()
    {
        var result = await InProcess.RunAsync(["whoami", "--json"], new() { ["HOME"] = Path.GetTempPath() + "/feather-no-home", ["FEATHER_URL"] = "http://127.0.0.1:9" });
        Assert.Equal((int)ExitCodes.NotLoggedIn, result.ExitCode);
        var error = System.Text.Json.Nodes.JsonNode.Parse(result.Out)!["error"]!;
        Assert.Equal("NotLoggedIn", (string?)error["code"]);
        Assert.Equal(3, (int?)error["exitCode"]);
        Assert.Contains("feather login", (string?)error["hint"]);
    }

    [Fact]
    public void Exit_codes_keep_their_documented_numbers()
    {
        Assert.Equal(0, (int)ExitCodes.Ok);
        Assert.Equal(1, (int)ExitCodes.Error);
        Assert.Equal(2, (int)ExitCodes.Usage);
        Assert.Equal(3, (int)ExitCodes.NotLoggedIn);
        Assert.Equal(4, (int)ExitCodes.Unreachable);
        Assert.Equal(5, (int)ExitCodes.NotFound);
        Assert.Equal(6, (int)ExitCodes.ValidationFailed);
        Assert.Equal(7, (int)ExitCodes.StepFailed);
        Assert.Equal(8, (int)ExitCodes.BuildFailed);
        Assert.Equal(9, (int)ExitCodes.UploadFailed);
        Assert.Equal(10, (int)ExitCodes.Forbidden);
        Assert.Equal(11, (int)ExitCodes.Conflict);
    }
}

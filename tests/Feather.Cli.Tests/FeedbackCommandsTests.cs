using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>feather feedback, usage, quotas and runs delete: the built CLI against the real server (admin owns admin/contract).</summary>
[Collection(RealServerCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class FeedbackCommandsTests(RealServer server)
{
    [Fact]
    public async Task Feedback_is_given_listed_exported_as_a_publishable_dataset_and_deleted()
    {
        using var dir = new TempDir();
        var cli = server.Cli();
        var ran = await cli.RunAsync(TimeSpan.FromMinutes(4), "run", RealServer.Model, "--inputs",
            dir.File("inputs.json", """{"steps": [{"name": {"texts": ["Lin"]}}, {}]}"""), "--json");
        Assert.True(ran.ExitCode == 0, ran.Err);
        var runId = (string)JsonNode.Parse(ran.Out)!["id"]!;

        var given = await cli.RunAsync("feedback", runId, "--step", "0", "--incorrect", "--label", "Hi, Lin!", "--comment", "too formal");
        Assert.True(given.ExitCode == 0, given.Err);
        Assert.Contains("output 'greeting'", given.Out);
        Assert.Contains("shared with the model's owner", given.Out);
        var bad = await cli.RunAsync("feedback", runId, "--step", "0", "--item", "9", "--correct");
        Assert.Equal((int)ExitCodes.ValidationFailed, bad.ExitCode);
        Assert.Contains("item", bad.Err);
        var both = await cli.RunAsync("feedback", runId, "--correct", "--incorrect");
        Assert.Equal((int)ExitCodes.Usage, both.ExitCode);

        var list = await cli.RunAsync("feedback", "list", RealServer.Model, "--rating", "incorrect");
        Assert.True(list.ExitCode == 0, list.Err);
        Assert.Matches(@"ID\s+GIVEN\s+BY\s+VERSION", list.Out);
        Assert.Contains("Hi, Lin!", list.Out);
        var json = JsonNode.Parse((await cli.RunAsync("feedback", "list", RealServer.Model, "--json")).Out)!.AsArray();
        var mine = json.Single(f => (string?)f!["runId"] == runId)!;
        Assert.Equal("Lin", (string?)mine["inputs"]!["name"]!["texts"]![0]);

        var target = Path.Combine(dir.Path, "exported");
        var exported = await cli.RunAsync("feedback", "export", RealServer.Model, target, "--rating", "incorrect");
        Assert.True(exported.ExitCode == 0, exported.Err);
        Assert.Contains("feather datasets publish", exported.Out);
        Assert.Contains("Hi, Lin!", File.ReadAllText(Path.Combine(target, "records.jsonl")));
        var again = await cli.RunAsync("feedback", "export", RealServer.Model, target);
        Assert.Equal((int)ExitCodes.Usage, again.ExitCode);
        var dry = await cli.RunAsync("datasets", "publish", target, "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.Out + dry.Err);

        var deleted = await cli.RunAsync("feedback", "delete", (string)mine["id"]!);
        Assert.True(deleted.ExitCode == 0, deleted.Err);
        var gone = await cli.RunAsync("feedback", "delete", (string)mine["id"]!);
        Assert.Equal((int)ExitCodes.NotFound, gone.ExitCode);

        var usage = await cli.RunAsync("usage");
        Assert.True(usage.ExitCode == 0, usage.Err);
        Assert.Contains("usage of user:admin", usage.Out);
        Assert.Contains(RealServer.Model, usage.Out);
        var usageJson = JsonNode.Parse((await cli.RunAsync("usage", "--json")).Out)!;
        Assert.True((int)usageJson["totals"]!["steps"]! >= 2);

        var runDeleted = await cli.RunAsync("runs", "delete", runId);
        Assert.True(runDeleted.ExitCode == 0, runDeleted.Err);
        Assert.Equal((int)ExitCodes.NotFound, (await cli.RunAsync("runs", "show", runId)).ExitCode);
    }

    [Fact]
    public async Task Quotas_are_set_listed_and_removed_by_an_admin()
    {
        // the suite's token has no admin scope: refused
        Assert.Equal((int)ExitCodes.Forbidden, (await server.Cli().RunAsync("quotas", "list")).ExitCode);
        using var answer = await server.Http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = "admin", password = server.AdminPassword, name = "quotas", scopes = new[] { "read", "run", "publish", "admin" } });
        answer.EnsureSuccessStatusCode();
        var cli = server.Cli((await answer.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>());
        var set = await cli.RunAsync("quotas", "set", "--user", "admin", "--steps-per-day", "1000", "--storage-bytes", "1000000000");
        Assert.True(set.ExitCode == 0, set.Err);
        var list = await cli.RunAsync("quotas", "list");
        Assert.Matches(@"user\s+admin\s+1000", list.Out);
        var usage = await cli.RunAsync("usage");
        Assert.Contains("stepsPerDay", usage.Out);
        Assert.Equal((int)ExitCodes.Usage, (await cli.RunAsync("quotas", "set", "--steps-per-day", "1")).ExitCode);
        Assert.Equal((int)ExitCodes.NotFound, (await cli.RunAsync("quotas", "set", "--user", "nobody-here", "--steps-per-day", "1")).ExitCode);
        var removed = await cli.RunAsync("quotas", "remove", "--user", "admin");
        Assert.True(removed.ExitCode == 0, removed.Err);
    }
}

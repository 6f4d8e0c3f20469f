using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>`feather evaluate` with the built CLI against the real feather-server and Docker runner.</summary>
[Collection(RealServerCollection.Name)]
public sealed class EvaluateCommandTests(RealServer server) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A copy of the digits sample dataset under a fresh name (tests share the server), private.</summary>
    private async Task<string> PublishDigitsAsync(BuiltCli cli)
    {
        var name = $"eval-digits-{Guid.NewGuid().ToString("N")[..8]}";
        var source = Path.Combine(RealServer.RepoRoot, "samples", "datasets", "digits-heldout");
        var target = Path.Combine(_dir.Path, name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "dataset.json")))!;
        manifest["name"] = name;
        File.WriteAllText(Path.Combine(target, "dataset.json"), manifest.ToJsonString());
        var published = await cli.RunAsync(TimeSpan.FromMinutes(2), "datasets", "publish", target);
        Assert.True(published.ExitCode == 0, published.Err);
        return $"admin/{name}";
    }

    [Fact]
    public async Task Evaluate_waits_for_the_scores_and_names_what_is_wrong()
    {
        using var cli = server.Cli();
        var dataset = await PublishDigitsAsync(cli);

        // a model without a predict function: refused with the reason (exit 6)
        var refused = await cli.RunAsync("evaluate", RealServer.Model, "--dataset", dataset);
        Assert.Equal(6, refused.ExitCode);
        Assert.Contains("declares no predict function", refused.Err);
        // unknown dataset: 404 (exit 5); a malformed reference: usage (exit 2)
        Assert.Equal(5, (await cli.RunAsync("evaluate", RealServer.Model, "--dataset", "admin/no-such-dataset")).ExitCode);
        Assert.Equal(2, (await cli.RunAsync("evaluate", RealServer.Model, "--dataset", "digits")).ExitCode);

        var publish = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", Path.Combine(RealServer.RepoRoot, "samples", "image-classifier"), "--wait");
        Assert.True(publish.ExitCode == 0, publish.Out + publish.Err);
        var run = await cli.RunAsync(TimeSpan.FromMinutes(5), "evaluate", "admin/image-classifier", "--dataset", dataset, "--wait");
        Assert.True(run.ExitCode == 0, run.Out + run.Err + server.Log);
        Assert.Contains("succeeded", run.Out);
        Assert.Contains("accuracy (primary)", run.Out);
        Assert.Contains("recall per class: 0=", run.Out);
        Assert.Contains("450/450 records", run.Out);

        var json = await cli.RunAsync(TimeSpan.FromMinutes(5), "evaluate", "admin/image-classifier", "--dataset", dataset, "--wait", "--json");
        Assert.True(json.ExitCode == 0, json.Err);
        var detail = JsonNode.Parse(json.Out)!;
        var accuracy = detail["evaluation"]!["metrics"]!["accuracy"]!.GetValue<double>();
        Assert.InRange(accuracy, 0.9, 1.0);
        Assert.Equal(10, detail["classes"]!.AsArray().Count);
        // the server's list of the model's evaluations has them, succeeded (the first may be the automatic one: same owner)
        var list = await server.SendAsync(HttpMethod.Get, "/api/models/admin/image-classifier/evaluations");
        var mine = list.AsArray().Where(e => $"{e!["datasetOwner"]}/{e["dataset"]}" == dataset).ToList();
        Assert.True(mine.Count >= 2, list.ToJsonString());
        Assert.All(mine, e => Assert.Equal("succeeded", e!["status"]!.GetValue<string>()));
    }
}

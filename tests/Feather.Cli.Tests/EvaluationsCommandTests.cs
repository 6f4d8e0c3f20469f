using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>`feather evaluations list|show` with the built CLI against the real feather-server and Docker runner.</summary>
[Collection(RealServerCollection.Name)]
public sealed class EvaluationsCommandTests(RealServer server) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task List_and_show_give_the_evaluations_their_metrics_and_the_wrong_records()
    {
        using var cli = server.Cli();
        // a private copy of the held-out digits and a copy of the nearest-centroid sample (same owner: evaluated by itself)
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var dataset = $"list-digits-{suffix}";
        var model = $"list-centroid-{suffix}";
        var datasetDir = Copy(Path.Combine("samples", "datasets", "digits-heldout"), dataset, "dataset.json", "\"name\": \"digits-heldout\"", $"\"name\": \"{dataset}\"");
        var published = await cli.RunAsync(TimeSpan.FromMinutes(2), "datasets", "publish", datasetDir);
        Assert.True(published.ExitCode == 0, published.Err);
        var modelDir = Copy(Path.Combine("samples", "digits-centroid"), model, "model.py", "name=\"digits-centroid\"", $"name=\"{model}\"");
        var publish = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", modelDir, "--wait");
        Assert.True(publish.ExitCode == 0, publish.Out + publish.Err);

        // list --json until the automatic evaluation on the dataset has finished
        JsonNode? evaluation = null;
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (evaluation?["status"]?.GetValue<string>() is not ("succeeded" or "failed" or "cancelled"))
        {
            Assert.True(DateTime.UtcNow < deadline, "no finished evaluation: " + evaluation?.ToJsonString() + server.Log);
            await Task.Delay(500);
            var list = await cli.RunAsync("evaluations", "list", $"admin/{model}", "--json");
            Assert.True(list.ExitCode == 0, list.Err);
            evaluation = JsonNode.Parse(list.Out)!.AsArray().FirstOrDefault(e => e!["dataset"]!.GetValue<string>() == dataset);
        }
        Assert.Equal("succeeded", evaluation!["status"]!.GetValue<string>());
        var id = evaluation["id"]!.GetValue<string>();
        var accuracy = evaluation["metrics"]!["accuracy"]!.GetValue<double>();
        var accuracyText = accuracy.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);

        // the table, for people; @1 filters by version, @2 has none
        var table = await cli.RunAsync("evaluations", "list", $"admin/{model}@1");
        Assert.True(table.ExitCode == 0, table.Err);
        Assert.StartsWith("EVALUATION", table.Out);
        var row = table.Out.Split('\n').Single(l => l.StartsWith(id));
        Assert.Contains($"admin/{dataset}@1", row);
        Assert.Contains("succeeded", row);
        Assert.Contains("450/450", row);
        Assert.Contains($"accuracy {accuracyText}", row);
        Assert.Contains("model-ready", row);
        var none = await cli.RunAsync("evaluations", "list", $"admin/{model}@2");
        Assert.True(none.ExitCode == 0, none.Err);
        Assert.Contains("no evaluations", none.Out);

        // show: status, metrics, the label field, the log
        var show = await cli.RunAsync("evaluations", "show", id, "--log");
        Assert.True(show.ExitCode == 0, show.Err);
        Assert.Contains($"evaluation {id}: succeeded, 450/450 records, model-ready", show.Out);
        Assert.Contains("accuracy (primary)", show.Out);
        Assert.Contains(accuracyText, show.Out);
        Assert.Contains("recall per class: 0=", show.Out);
        Assert.Contains("scored on the label field 'label'", show.Out);
        Assert.Contains("--- chunk 1: records 0..449 ---", show.Out);
        Assert.DoesNotContain("wrong record", show.Out);

        // --wrong: the records the API says are wrong, with their inputs, labels and predictions
        var api = await server.SendAsync(HttpMethod.Get, $"/api/evaluations/{id}/records?wrong=true&limit=10000");
        var expected = api["records"]!.AsArray();
        Assert.Equal(expected.Count, (int)Math.Round(450 * (1 - accuracy)));
        var wrong = await cli.RunAsync("evaluations", "show", id, "--wrong");
        Assert.True(wrong.ExitCode == 0, wrong.Err);
        Assert.Contains($"{expected.Count} wrong record(s):", wrong.Out);
        var lines = wrong.Out.Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("RECORD"));
        Assert.True(header >= 0, wrong.Out);
        Assert.Matches("^RECORD +IMAGE +LABEL +PREDICTION$", lines[header]);
        foreach (var (r, line) in expected.Zip(lines.Skip(header + 1)))
        {
            var cells = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal([r!["index"]!.ToString(), r["inputs"]!["image"]!.GetValue<string>(), r["label"]!.GetValue<string>(), r["prediction"]!.GetValue<string>()], cells);
            Assert.NotEqual(cells[2], cells[3]);
        }
        var json = await cli.RunAsync("evaluations", "show", id, "--wrong", "--json");
        Assert.True(json.ExitCode == 0, json.Err);
        var body = JsonNode.Parse(json.Out)!;
        Assert.Equal(id, body["evaluation"]!["id"]!.GetValue<string>());
        Assert.Equal(accuracy, body["evaluation"]!["metrics"]!["accuracy"]!.GetValue<double>());
        var records = body["wrongRecords"]!["records"]!.AsArray();
        Assert.Equal(expected.Count, records.Count);
        Assert.All(records, r => Assert.False(r!["correct"]!.GetValue<bool>()));
        Assert.Equal(expected.Select(r => r!["index"]!.GetValue<long>()), records.Select(r => r!["index"]!.GetValue<long>()));

        // another user: the private model's evaluation does not exist for them (5); once model and dataset are public
        // they see the evaluation but not its records (403: exit 10)
        var viewerToken = await ViewerTokenAsync($"viewer{suffix}");
        using (var viewer = server.Cli(viewerToken))
        {
            Assert.Equal(5, (await viewer.RunAsync("evaluations", "show", id, "--wrong")).ExitCode);
            Assert.Equal(5, (await viewer.RunAsync("evaluations", "list", $"admin/{model}")).ExitCode);
            await server.SendAsync(HttpMethod.Patch, $"/api/models/admin/{model}", new { visibility = "public" });
            await server.SendAsync(HttpMethod.Patch, $"/api/datasets/admin/{dataset}", new { visibility = "public" });
            var seen = await viewer.RunAsync("evaluations", "show", id);
            Assert.True(seen.ExitCode == 0, seen.Err);
            Assert.Contains(accuracyText, seen.Out);
            var refused = await viewer.RunAsync("evaluations", "show", id, "--wrong");
            Assert.Equal(10, refused.ExitCode);
            Assert.Contains("per-record view is for whoever can change the model", refused.Err);
            Assert.DoesNotContain("RECORD", refused.Out);
        }

        // what is not there, and what is malformed
        var missing = await cli.RunAsync("evaluations", "show", "ev-nosuchone");
        Assert.Equal(5, missing.ExitCode);
        Assert.Contains("no evaluation ev-nosuchone", missing.Err);
        Assert.Equal(5, (await cli.RunAsync("evaluations", "list", "admin/no-such-model")).ExitCode);
        Assert.Equal(2, (await cli.RunAsync("evaluations", "show", "../x")).ExitCode);
        Assert.Equal(2, (await cli.RunAsync("evaluations", "list", "no-owner")).ExitCode);
        Assert.Equal(2, (await cli.RunAsync("evaluations", "list", $"admin/{model}@stable")).ExitCode);
    }

    /// <summary>A new user's token (the user is made with an admin-scoped token of the admin).</summary>
    private async Task<string> ViewerTokenAsync(string user)
    {
        var password = Guid.NewGuid().ToString("N");
        using var http = new HttpClient(); // no bearer: the password grant
        using var admin = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = "admin", password = server.AdminPassword, name = "users", scopes = new[] { "read", "admin" } });
        admin.EnsureSuccessStatusCode();
        var adminToken = (await admin.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
        using var create = new HttpRequestMessage(HttpMethod.Post, $"{server.Url}/api/users") { Content = JsonContent.Create(new { username = user, password }) };
        create.Headers.Authorization = new("Bearer", adminToken);
        using var created = await http.SendAsync(create);
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        using var token = await http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = user, password, name = "viewer", scopes = new[] { "read", "run" } });
        token.EnsureSuccessStatusCode();
        return (await token.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
    }

    private string Copy(string from, string name, string file, string find, string replace)
    {
        var source = Path.Combine(RealServer.RepoRoot, from);
        var target = Path.Combine(_dir.Path, name);
        foreach (var path in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, path);
            if (relative.Split(Path.DirectorySeparatorChar).Contains("__pycache__")) continue;
            var to = Path.Combine(target, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(path, to);
        }
        var text = File.ReadAllText(Path.Combine(target, file));
        Assert.Contains(find, text);
        File.WriteAllText(Path.Combine(target, file), text.Replace(find, replace));
        return target;
    }
}

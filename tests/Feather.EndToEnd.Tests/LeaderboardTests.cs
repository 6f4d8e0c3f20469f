using System.Net;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// Leaderboards through the real product: a copy of the held-out digits and copies of the two sample classifiers
/// (image-classifier's logistic regression, digits-centroid) under names of their own, so the board does not depend on
/// the other evaluation tests. The evaluations run by themselves; the board ranks the models by accuracy with the
/// metrics computed here from the stored predictions; a private model's score is invisible to another user; the CLI
/// prints the board as JSON.
/// </summary>
[Collection("evaluation")]
public sealed class LeaderboardTests(EvaluationServer server)
{
    [Fact]
    public async Task Two_classifiers_are_ranked_on_the_held_out_digits_with_their_metrics_and_a_private_one_only_for_its_owner()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("feather-e2e-board-").FullName;
        try
        {
            var dataset = $"digits-board-{suffix}";
            var datasetDir = Copy(server, "samples/datasets/digits-heldout", Path.Combine(work, dataset), "dataset.json", "\"name\": \"digits-heldout\"", $"\"name\": \"{dataset}\"");
            var logreg = $"board-logreg-{suffix}";
            var centroid = $"board-centroid-{suffix}";
            var hidden = $"board-private-{suffix}";
            var published = await server.Cli("datasets", "publish", datasetDir, "--visibility", "public");
            Assert.True(published.ExitCode == 0, published.ToString());
            foreach (var (sample, name, visibility) in new[] { ("image-classifier", logreg, "public"), ("digits-centroid", centroid, "public"), ("digits-centroid", hidden, "private") })
            {
                var dir = Copy(server, $"samples/{sample}", Path.Combine(work, name), "model.py", $"name=\"{sample}\"", $"name=\"{name}\"");
                var publish = await server.Cli("publish", dir, "--wait", "--visibility", visibility);
                Assert.True(publish.ExitCode == 0, publish.ToString());
            }

            // each evaluation ran by itself; the metrics are those of the stored predictions
            var expected = new Dictionary<string, (double Accuracy, double MacroF1)>();
            foreach (var model in new[] { logreg, centroid, hidden })
            {
                var evaluation = await server.WaitForEvaluationAsync("admin", model, dataset);
                Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
                var records = (await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]}/records?limit=10000", null))["records"]!.AsArray();
                Assert.Equal(450, records.Count);
                expected[model] = Metrics(records.Select(r => (r!["label"]!.GetValue<string>(), r["prediction"]!.GetValue<string>())).ToArray());
            }
            Assert.True(expected[logreg].Accuracy > expected[centroid].Accuracy, $"{expected[logreg]} vs {expected[centroid]}");

            var board = await server.Api(HttpMethod.Get, $"/api/leaderboards/image-classification?dataset=admin/{dataset}", null);
            Assert.Equal(["accuracy", "macro_f1"], board["metrics"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()));
            var entries = board["entries"]!.AsArray().ToDictionary(e => e!["model"]!.GetValue<string>(), e => e!);
            foreach (var model in new[] { logreg, centroid, hidden })
            {
                Assert.Equal(expected[model].Accuracy, entries[model]["metrics"]!["accuracy"]!.GetValue<double>(), 12);
                Assert.Equal(expected[model].MacroF1, entries[model]["metrics"]!["macro_f1"]!.GetValue<double>(), 12);
                Assert.Equal($"/models/admin/{model}", entries[model]["url"]!.GetValue<string>());
            }
            Assert.True(entries[logreg]["rank"]!.GetValue<int>() < entries[centroid]["rank"]!.GetValue<int>());
            var ranks = board["entries"]!.AsArray().Select(e => e!["score"]!.GetValue<double>()).ToArray();
            Assert.Equal(ranks.OrderDescending().ToArray(), ranks);

            // another user sees the public two, not the private one, and its scores are 404
            var eve = await server.NewUserTokenAsync($"eve{suffix}");
            var seen = await server.Api(HttpMethod.Get, $"/api/leaderboards/image-classification?dataset=admin/{dataset}", null, HttpStatusCode.OK, eve);
            var names = seen["entries"]!.AsArray().Select(e => e!["model"]!.GetValue<string>()).ToArray();
            Assert.Contains(logreg, names);
            Assert.Contains(centroid, names);
            Assert.DoesNotContain(hidden, names);
            await server.Api(HttpMethod.Get, $"/api/models/admin/{hidden}/scores", null, HttpStatusCode.NotFound, eve);
            var scores = (await server.Api(HttpMethod.Get, $"/api/models/admin/{centroid}/scores", null, HttpStatusCode.OK, eve)).AsArray();
            var score = Assert.Single(scores, s => s!["dataset"]!.GetValue<string>() == dataset)!;
            Assert.Equal(expected[centroid].Accuracy, score["score"]!.GetValue<double>(), 12);
            // other image classifiers of this server are evaluated on the dataset too: the rank counts those that score better
            var better = seen["entries"]!.AsArray().Count(e => e!["score"]!.GetValue<double>() > expected[centroid].Accuracy);
            Assert.Equal(better + 1, score["rank"]!.GetValue<int>());
            Assert.Equal(seen["entries"]!.AsArray().Count, score["of"]!.GetValue<int>());

            // the CLI: the board as JSON, with and without --dataset
            foreach (var args in new[] { new[] { "leaderboard", "image-classification", "--dataset", $"admin/{dataset}", "--json" },
                                         ["leaderboard", "image-classification", "--json"] })
            {
                var cli = await server.Cli(args);
                Assert.True(cli.ExitCode == 0, cli.ToString());
                var json = JsonNode.Parse(cli.Stdout)!;
                Assert.True(json["entries"]!.AsArray().Count >= 2, cli.Stdout);
                Assert.All(json["entries"]!.AsArray(), e =>
                {
                    Assert.NotNull(e!["metrics"]!["accuracy"]);
                    Assert.NotNull(e["metrics"]!["macro_f1"]);
                });
            }
            var table = await server.Cli("leaderboard", "image-classification", "--dataset", $"admin/{dataset}");
            Assert.True(table.ExitCode == 0, table.ToString());
            Assert.Matches($@"\n1\s+admin/{logreg}\s+1 \(live\)\s+0\.9", table.Stdout);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Accuracy and macro-F1 (scikit-learn's definition: the mean F1 over the union of labels and predictions).</summary>
    private static (double Accuracy, double MacroF1) Metrics((string Label, string Prediction)[] pairs)
    {
        var accuracy = pairs.Count(p => p.Label == p.Prediction) / (double)pairs.Length;
        var classes = pairs.Select(p => p.Label).Concat(pairs.Select(p => p.Prediction)).Distinct();
        var f1 = classes.Select(c =>
        {
            var tp = pairs.Count(p => p.Label == c && p.Prediction == c);
            var fp = pairs.Count(p => p.Label != c && p.Prediction == c);
            var fn = pairs.Count(p => p.Label == c && p.Prediction != c);
            return tp == 0 ? 0.0 : 2.0 * tp / (2 * tp + fp + fn);
        }).Average();
        return (accuracy, f1);
    }

    /// <summary>Copies a sample (or sample dataset) and renames it in <paramref name="file"/>, so a test owns its copy.</summary>
    public static string Copy(EvaluationServer server, string from, string to, string file, string find, string replace)
    {
        var source = Path.Combine(server.Server.RepoRoot, from);
        foreach (var path in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, path);
            if (relative.Split(Path.DirectorySeparatorChar).Contains("__pycache__")) continue;
            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(path, target);
        }
        var text = File.ReadAllText(Path.Combine(to, file));
        Assert.Contains(find, text);
        File.WriteAllText(Path.Combine(to, file), text.Replace(find, replace));
        return to;
    }
}

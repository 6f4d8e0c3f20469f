using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The text-classification board through the real product: copies of samples/datasets/topics-heldout and
/// samples/text-topics (naive Bayes, numpy only) under names of their own; the evaluation runs by itself and the board
/// shows the accuracy and macro-F1 that scikit-learn gives here for the same model fitted independently
/// (CountVectorizer + MultinomialNB on the sample's train.jsonl) on the dataset's labels.
/// </summary>
[Collection("evaluation")]
public sealed class TextLeaderboardTests(EvaluationServer server)
{
    [Fact]
    public async Task The_text_topics_sample_is_ranked_on_the_held_out_topics_with_the_metrics_scikit_learn_computes()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("feather-e2e-text-board-").FullName;
        try
        {
            var dataset = $"topics-board-{suffix}";
            var model = $"topics-nb-{suffix}";
            var datasetDir = LeaderboardTests.Copy(server, "samples/datasets/topics-heldout", Path.Combine(work, dataset), "dataset.json",
                "\"name\": \"topics-heldout\"", $"\"name\": \"{dataset}\"");
            var published = await server.Cli("datasets", "publish", datasetDir, "--visibility", "public");
            Assert.True(published.ExitCode == 0, published.ToString());
            var modelDir = LeaderboardTests.Copy(server, "samples/text-topics", Path.Combine(work, model), "model.py", "name=\"text-topics\"", $"name=\"{model}\"");
            var publish = await server.Cli("publish", modelDir, "--wait", "--visibility", "public");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var evaluation = await server.WaitForEvaluationAsync("admin", model, dataset);
            Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
            Assert.Equal(240, evaluation["recordCount"]!.GetValue<long>());

            // the same model fitted by scikit-learn, scored on the dataset's own labels
            var expected = await SklearnAsync(Path.Combine(modelDir, "train.jsonl"), Path.Combine(datasetDir, "records.jsonl"));
            var accuracy = expected.GetProperty("accuracy").GetDouble();
            var macroF1 = expected.GetProperty("macro_f1").GetDouble();
            Assert.InRange(accuracy, 0.8, 0.99);   // good, not perfect: the sentences carry other topics' words

            var board = await server.Api(HttpMethod.Get, $"/api/leaderboards/text-classification?dataset=admin/{dataset}", null);
            Assert.Equal(["accuracy", "macro_f1"], board["metrics"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()));
            var entry = Assert.Single(board["entries"]!.AsArray(), e => e!["model"]!.GetValue<string>() == model)!;
            Assert.Equal(accuracy, entry["metrics"]!["accuracy"]!.GetValue<double>(), 12);
            Assert.Equal(macroF1, entry["metrics"]!["macro_f1"]!.GetValue<double>(), 12);
            Assert.Equal(accuracy, entry["score"]!.GetValue<double>(), 12);
            Assert.True(entry["live"]!.GetValue<bool>());
            // the per-record predictions are scikit-learn's, one by one
            var records = (await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]}/records?limit=10000", null))["records"]!.AsArray();
            Assert.Equal(expected.GetProperty("predictions").EnumerateArray().Select(p => p.GetString()!).ToArray(),
                records.Select(r => r!["prediction"]!.GetValue<string>()).ToArray());
            Assert.Equal("text", Assert.Single(records[0]!["inputs"]!.AsObject()).Key);

            // the board is listed, and the CLI prints it
            var boards = await server.Api(HttpMethod.Get, "/api/leaderboards", null);
            Assert.Contains(boards.AsArray(), b => b!["task"]!.GetValue<string>() == "text-classification" && b["dataset"]!.GetValue<string>() == dataset);
            var cli = await server.Cli("leaderboard", "text-classification", "--dataset", $"admin/{dataset}", "--json");
            Assert.True(cli.ExitCode == 0, cli.ToString());
            var shown = Assert.Single(JsonNode.Parse(cli.Stdout)!["entries"]!.AsArray(), e => e!["model"]!.GetValue<string>() == model)!;
            Assert.Equal(macroF1, shown["metrics"]!["macro_f1"]!.GetValue<double>(), 12);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// A dataset with two label fields is scored on the first one in manifest order (docs/datasets.md); the evaluation says
    /// which, and neither label is among the inputs the per-record view (or the model) gets.
    /// </summary>
    [Fact]
    public async Task A_dataset_with_two_label_fields_is_scored_on_the_first_and_says_so()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("feather-e2e-two-labels-").FullName;
        try
        {
            var dataset = $"topics-two-{suffix}";
            var dir = LeaderboardTests.Copy(server, "samples/datasets/topics-heldout", Path.Combine(work, dataset), "dataset.json",
                "\"name\": \"topics-heldout\"", $"\"name\": \"{dataset}\"");
            // a second label field after "topic": whether the sentence is long
            var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "dataset.json")))!;
            manifest["fields"]!.AsArray().Add(new JsonObject { ["name"] = "length", ["type"] = "label", ["role"] = "label", ["classes"] = new JsonArray("short", "long") });
            File.WriteAllText(Path.Combine(dir, "dataset.json"), manifest.ToJsonString());
            var lines = File.ReadAllLines(Path.Combine(dir, "records.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
            foreach (var r in lines) r["length"] = r["text"]!.GetValue<string>().Length > 70 ? "long" : "short";
            File.WriteAllLines(Path.Combine(dir, "records.jsonl"), lines.Select(r => r.ToJsonString()));
            var published = await server.Cli("datasets", "publish", dir, "--visibility", "public");
            Assert.True(published.ExitCode == 0, published.ToString());
            var model = $"topics-two-nb-{suffix}";
            var modelDir = LeaderboardTests.Copy(server, "samples/text-topics", Path.Combine(work, model), "model.py", "name=\"text-topics\"", $"name=\"{model}\"");
            var publish = await server.Cli("publish", modelDir, "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var evaluation = await server.WaitForEvaluationAsync("admin", model, dataset);
            Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());

            var expected = await SklearnAsync(Path.Combine(modelDir, "train.jsonl"), Path.Combine(dir, "records.jsonl"));
            Assert.Equal(expected.GetProperty("accuracy").GetDouble(), evaluation["metrics"]!["accuracy"]!.GetValue<double>(), 12);
            var detail = await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]}", null);
            Assert.Equal("topic", detail["labelField"]!.GetValue<string>());
            Assert.Equal(["food", "sport", "technology", "weather"], detail["classes"]!.AsArray().Select(c => c!.GetValue<string>()));
            var page = await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]}/records?limit=5", null);
            Assert.Equal("topic", page["labelField"]!.GetValue<string>());
            Assert.Equal(["text"], page["inputFields"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()));
            Assert.All(page["records"]!.AsArray(), r => Assert.Equal(["text"], r!["inputs"]!.AsObject().Select(p => p.Key)));
            Assert.Equal(lines[0]["topic"]!.GetValue<string>(), page["records"]![0]!["label"]!.GetValue<string>());
            var shown = await server.Cli("evaluations", "show", evaluation["id"]!.GetValue<string>());
            Assert.Contains("scored on the label field 'topic'", shown.Stdout);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<JsonElement> SklearnAsync(string train, string heldout)
    {
        const string script = """
            import json, sys
            from sklearn.feature_extraction.text import CountVectorizer
            from sklearn.naive_bayes import MultinomialNB
            from sklearn import metrics
            read = lambda p: [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]
            train, test = read(sys.argv[1]), read(sys.argv[2])
            vec = CountVectorizer(token_pattern=r"[a-z]+", lowercase=True)
            nb = MultinomialNB(alpha=1.0).fit(vec.fit_transform([r["text"] for r in train]), [r["topic"] for r in train])
            p = list(nb.predict(vec.transform([r["text"] for r in test])))
            y = [r["topic"] for r in test]
            print(json.dumps({"accuracy": metrics.accuracy_score(y, p), "macro_f1": metrics.f1_score(y, p, average="macro"), "predictions": p}))
            """;
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", script, train, heldout]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"python3 failed: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}

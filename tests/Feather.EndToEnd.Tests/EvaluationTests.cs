using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

[CollectionDefinition("evaluation")]
public sealed class EvaluationCollection : ICollectionFixture<EvaluationServer>;

/// <summary>
/// Evaluations through the real product (bin/feather-server, bin/feather, the Docker engine): publishing a dataset and
/// a model scores it by itself in the sandbox; the metrics are those scikit-learn computes from the stored per-record
/// predictions and those the SDK computes locally; visibility holds; a model hunting for the labels finds none; a
/// wrong prediction count fails clearly; a cancel leaves no container.
/// </summary>
[Collection("evaluation")]
public sealed class EvaluationTests(EvaluationServer server)
{
    [Fact]
    public async Task Publishing_the_digits_and_the_classifier_scores_it_by_itself_with_the_metrics_scikit_learn_computes()
    {
        var dataset = await server.Cli("datasets", "publish", "samples/datasets/digits-heldout", "--visibility", "public");
        Assert.True(dataset.ExitCode == 0, dataset.ToString());
        var publish = await server.Cli("publish", "samples/image-classifier", "--wait", "--visibility", "public");
        Assert.True(publish.ExitCode == 0, publish.ToString());

        var evaluation = await server.WaitForEvaluationAsync("admin", "image-classifier", "digits-heldout");
        Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
        Assert.Equal(450, evaluation["recordCount"]!.GetValue<long>());
        Assert.Equal(450, evaluation["recordsDone"]!.GetValue<long>());
        Assert.Equal("accuracy", evaluation["primaryMetric"]!.GetValue<string>());
        var id = evaluation["id"]!.GetValue<string>();
        var metrics = evaluation["metrics"]!;

        // scikit-learn on the stored per-record predictions gives the same numbers
        var records = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records?limit=10000", null);
        var rows = records["records"]!.AsArray();
        Assert.Equal(450, rows.Count);
        var labels = rows.Select(r => r!["label"]!.GetValue<string>()).ToArray();
        var predictions = rows.Select(r => r!["prediction"]!.GetValue<string>()).ToArray();
        var sklearn = await Python("""
            import json, sys
            from sklearn import metrics
            d = json.load(sys.stdin)
            y, p = d["y"], d["p"]
            c = [str(i) for i in range(10)]
            print(json.dumps({"accuracy": metrics.accuracy_score(y, p), "macro_f1": metrics.f1_score(y, p, average="macro"),
                              "recall": list(metrics.recall_score(y, p, labels=c, average=None))}))
            """, JsonSerializer.Serialize(new { y = labels, p = predictions }));
        Assert.Equal(sklearn.GetProperty("accuracy").GetDouble(), metrics["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(sklearn.GetProperty("macro_f1").GetDouble(), metrics["macro_f1"]!.GetValue<double>(), 12);
        var detail = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null);
        var recall = sklearn.GetProperty("recall").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (var k = 0; k < 10; k++)
            Assert.Equal(recall[k], detail["perClassRecall"]![k.ToString()]!.GetValue<double>(), 12);
        Assert.Equal(450, detail["confusionMatrix"]!.AsArray().Sum(row => row!.AsArray().Sum(n => n!.GetValue<long>())));

        // the same predict function run locally by the SDK gives the same predictions and metrics
        var local = await Python("import runpy, sys; sys.argv = ['feather', 'evaluate', 'samples/image-classifier', '--dataset', " +
                                 "'samples/datasets/digits-heldout', '--json']; runpy.run_module('feather', run_name='__main__')", "");
        Assert.Equal(local.GetProperty("metrics").GetProperty("accuracy").GetDouble(), metrics["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(local.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("prediction").GetString()!).ToArray(), predictions);
        Assert.InRange(metrics["accuracy"]!.GetValue<double>(), 0.9, 1.0);

        // the wrong ones, for the owner
        var wrong = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records?wrong=true", null);
        Assert.Equal(labels.Zip(predictions).Count(x => x.First != x.Second), wrong["total"]!.GetValue<int>());
        Assert.All(wrong["records"]!.AsArray(), r => Assert.False(r!["correct"]!.GetValue<bool>()));

        // on demand through the CLI: a new evaluation with the same result
        var cli = await server.Cli("evaluate", "admin/image-classifier", "--dataset", "admin/digits-heldout", "--wait", "--json");
        Assert.True(cli.ExitCode == 0, cli.ToString());
        var again = JsonNode.Parse(cli.Stdout)!["evaluation"]!;
        Assert.Equal("on-demand", again["trigger"]!.GetValue<string>());
        Assert.NotEqual(id, again["id"]!.GetValue<string>());
        Assert.Equal(metrics["accuracy"]!.GetValue<double>(), again["metrics"]!["accuracy"]!.GetValue<double>());
        Assert.Empty(await FeatherServer.StepContainersAsync(server.Server.InstanceId));
    }

    [Fact]
    public async Task A_model_hunting_for_the_labels_finds_none_and_a_private_models_score_is_404_to_others()
    {
        var dir = server.MakeTextDataset("secrets", 24, i => $"record {i}");
        var publish = await server.Cli("datasets", "publish", dir, "--visibility", "public");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        var evaluation = await server.WaitForEvaluationAsync("admin", "eval-hostile", "secrets");
        Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
        Assert.Equal("dataset-published", evaluation["trigger"]!.GetValue<string>());
        Assert.Equal(0.0, evaluation["metrics"]!["accuracy"]!.GetValue<double>());
        var id = evaluation["id"]!.GetValue<string>();
        var detail = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null);
        var logs = detail["logs"]!.GetValue<string>();
        Assert.Contains("found 0 label value(s)", logs);
        Assert.Matches("searched [0-9]+ env vars, [1-9][0-9]* files, [1-9][0-9]* objects", logs);
        var records = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records", null);
        Assert.All(records["records"]!.AsArray(), r => Assert.Equal("nothing-found", r!["prediction"]!.GetValue<string>()));

        // eval-hostile is private: its scores do not exist for another user, even on a public dataset
        var eve = await server.NewUserTokenAsync("eve");
        await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null, HttpStatusCode.NotFound, eve);
        await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records", null, HttpStatusCode.NotFound, eve);
        await server.Api(HttpMethod.Get, "/api/models/admin/eval-hostile/evaluations", null, HttpStatusCode.NotFound, eve);
        await server.Api(HttpMethod.Delete, $"/api/evaluations/{id}", null, HttpStatusCode.NotFound, eve);
        await server.Api(HttpMethod.Post, "/api/evaluations", new JsonObject { ["model"] = "admin/eval-hostile", ["dataset"] = "admin/secrets" },
            HttpStatusCode.NotFound, eve);
        // once public, eve sees the score but not the per-record view
        await server.Api(HttpMethod.Patch, "/api/models/admin/eval-hostile", new JsonObject { ["visibility"] = "public" });
        try
        {
            await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null, HttpStatusCode.OK, eve);
            await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records", null, HttpStatusCode.Forbidden, eve);
            await server.Api(HttpMethod.Delete, $"/api/evaluations/{id}", null, HttpStatusCode.Forbidden, eve);
        }
        finally
        {
            await server.Api(HttpMethod.Patch, "/api/models/admin/eval-hostile", new JsonObject { ["visibility"] = "private" });
        }
    }

    [Fact]
    public async Task A_wrong_number_of_predictions_fails_with_a_clear_message()
    {
        var dir = server.MakeTextDataset("short", 5, _ => "short");
        var publish = await server.Cli("datasets", "publish", dir);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        var evaluation = await server.WaitForEvaluationAsync("admin", "eval-hostile", "short");
        Assert.Equal("failed", evaluation["status"]!.GetValue<string>());
        // the runtime's own check answers first ("predict returned 4 predictions for a batch of 5 records"); the
        // server checks the count again ("the model returned 4 predictions for 5 records") whatever the container says
        var error = evaluation["error"]!.GetValue<string>();
        Assert.Contains("returned 4 predictions for", error);
        Assert.Contains("5 records", error);
        Assert.Empty(evaluation["metrics"]!.AsObject());
    }

    [Fact]
    public async Task A_forged_result_with_the_wrong_count_is_caught_by_the_server()
    {
        var dir = server.MakeTextDataset("forged", 3, _ => "forge");
        var publish = await server.Cli("datasets", "publish", dir);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        var evaluation = await server.WaitForEvaluationAsync("admin", "eval-hostile", "forged");
        Assert.Equal("failed", evaluation["status"]!.GetValue<string>());
        var detail = await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]}", null);
        Assert.Contains("forged a result on fd", detail["logs"]!.GetValue<string>());
        Assert.Contains("the model returned 2 predictions for 3 records (records 0..2)", evaluation["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cancelling_a_running_evaluation_leaves_no_container()
    {
        var dir = server.MakeTextDataset("sleepy", 3, _ => "sleep");
        var publish = await server.Cli("datasets", "publish", dir);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        JsonNode evaluation;
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            evaluation = await server.WaitForEvaluationAsync("admin", "eval-hostile", "sleepy", terminal: false);
            var running = await FeatherServer.Docker("ps", "-q", "--filter", $"label=org.feather.evaluation={evaluation["id"]}");
            if (evaluation["status"]!.GetValue<string>() == "running" && running.Stdout.Trim().Length > 0) break;
            Assert.True(DateTime.UtcNow < deadline, "the evaluation did not start a container: " + evaluation.ToJsonString());
            await Task.Delay(250);
        }
        var id = evaluation["id"]!.GetValue<string>();
        await server.Api(HttpMethod.Delete, $"/api/evaluations/{id}", null, HttpStatusCode.OK);
        var done = await server.WaitForEvaluationAsync("admin", "eval-hostile", "sleepy");
        Assert.Equal("cancelled", done["status"]!.GetValue<string>());
        Assert.Empty(await FeatherServer.StepContainersAsync(server.Server.InstanceId));
        var left = await FeatherServer.Docker("ps", "-aq", "--filter", $"label=org.feather.evaluation={id}");
        Assert.Equal("", left.Stdout.Trim());
        await server.Api(HttpMethod.Delete, $"/api/evaluations/{id}", null, HttpStatusCode.Conflict);
    }

    private static async Task<JsonElement> Python(string script, string stdin)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", script])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = FeatherServer.FindRepoRoot(),
        };
        psi.Environment["PYTHONPATH"] = Path.Combine(FeatherServer.FindRepoRoot(), "python-sdk");
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"python3 failed: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}

/// <summary>A server for the evaluation tests, on the runner image built from this checkout's SDK, with eval-hostile published.</summary>
public sealed class EvaluationServer : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("feather-e2e-eval-").FullName;
    public FeatherServer Server { get; private set; } = null!;
    public string Token { get; private set; } = "";

    public async Task InitializeAsync()
    {
        // the runner image of this checkout's SDK (the runtime's evaluate mode), by its content tag
        var tag = await FeatherServer.RunnerImageOfThisCheckoutAsync();
        Server = new FeatherServer(new Dictionary<string, string>
        {
            ["Runner__BaseImage"] = tag,
            ["Runner__WarmContainers"] = "0",
            ["Evaluations__MaxConcurrent"] = "3",
        });
        await Server.InitializeAsync();
        var publish = await Server.Cli("publish", "tests/models/eval-hostile", "--wait");
        if (publish.ExitCode != 0) throw new InvalidOperationException($"publishing eval-hostile failed: {publish}\n{Server.ServerLog}");
        Token = await TokenAsync("admin", Server.AdminPassword, "admin");
    }

    public Task<CommandResult> Cli(params string[] args) => Server.Cli(args);

    private async Task<string> TokenAsync(string user, string password, params string[] extraScopes)
    {
        using var response = await Server.Http.PostAsJsonAsync($"{Server.Url}/api/auth/tokens",
            new { username = user, password, name = "evaluation-tests", scopes = new[] { "read", "run", "publish" }.Concat(extraScopes).ToArray() });
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"token for {user}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!["token"]!.GetValue<string>();
    }

    public async Task<string> NewUserTokenAsync(string user)
    {
        var password = Guid.NewGuid().ToString("n");
        await Api(HttpMethod.Post, "/api/users", new JsonObject { ["username"] = user, ["password"] = password });
        return await TokenAsync(user, password);
    }

    public async Task<JsonNode> Api(HttpMethod method, string path, JsonNode? body, HttpStatusCode? expected = null, string? token = null)
    {
        using var request = new HttpRequestMessage(method, Server.Url + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Token);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await Server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (expected is not null)
            Assert.True(response.StatusCode == expected, $"{method} {path}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        else
            Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    /// <summary>The newest evaluation of the model on the dataset, once it exists (and, with <paramref name="terminal"/>, once it ended).</summary>
    public async Task<JsonNode> WaitForEvaluationAsync(string owner, string model, string dataset, bool terminal = true)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            var list = await Api(HttpMethod.Get, $"/api/models/{owner}/{model}/evaluations", null);
            var found = list.AsArray().FirstOrDefault(e => e!["dataset"]!.GetValue<string>() == dataset);
            if (found is not null && (!terminal || found["status"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled")) return found;
            Assert.True(DateTime.UtcNow < deadline, $"no finished evaluation of {owner}/{model} on {dataset}: {list.ToJsonString()}\n{Server.ServerLog[^Math.Min(4000, Server.ServerLog.Length)..]}");
            await Task.Delay(250);
        }
    }

    /// <summary>A text-classification dataset whose labels are secret-&lt;32 hex&gt;-&lt;n&gt;, which only the server should know.</summary>
    public string MakeTextDataset(string name, int count, Func<int, string> text)
    {
        var dir = Path.Combine(_work, name);
        Directory.CreateDirectory(dir);
        var secret = Guid.NewGuid().ToString("n");
        File.WriteAllText(Path.Combine(dir, "dataset.json"), new JsonObject
        {
            ["name"] = name, ["description"] = "labels only the server may know", ["task"] = "text-classification", ["records"] = "records.jsonl",
            ["fields"] = new JsonArray(
                new JsonObject { ["name"] = "text", ["type"] = "text", ["role"] = "input" },
                new JsonObject { ["name"] = "label", ["type"] = "label", ["role"] = "label" }),
        }.ToJsonString());
        File.WriteAllLines(Path.Combine(dir, "records.jsonl"),
            Enumerable.Range(0, count).Select(i => new JsonObject { ["text"] = text(i), ["label"] = $"secret-{secret}-{i % 3}" }.ToJsonString()));
        return dir;
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }
}

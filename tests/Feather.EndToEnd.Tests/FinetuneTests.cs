using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

[CollectionDefinition("finetune")]
public sealed class FinetuneCollection : ICollectionFixture<FinetuneServer>;

/// <summary>
/// Fine-tuning through the real product (bin/feather-server, bin/feather, the Docker engine): a job from the CLI trains
/// in the sandbox and makes a version with its lineage, which is then scored by itself on the leaderboard; another
/// user's job makes their own MODEL-ft; a cancel leaves no container and no version; a raising training function fails
/// the job with its traceback; a job reaches no network.
/// </summary>
[Collection("finetune")]
public sealed class FinetuneTests(FinetuneServer server)
{
    [Fact]
    public async Task A_cli_finetune_makes_a_version_with_its_lineage_whose_evaluation_appears_on_the_leaderboard()
    {
        foreach (var dir in new[] { "samples/datasets/digits-heldout", "samples/datasets/digits-train" })
        {
            var dataset = await server.Cli("datasets", "publish", dir, "--visibility", "public");
            Assert.True(dataset.ExitCode == 0, dataset.ToString());
        }
        var publish = await server.Cli("publish", "samples/image-classifier", "--wait", "--visibility", "public");
        Assert.True(publish.ExitCode == 0, publish.ToString());

        // bad hyperparameters are refused before anything runs, naming the param
        var refused = await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject
        {
            ["model"] = "admin/image-classifier", ["dataset"] = "admin/digits-train", ["params"] = new JsonObject { ["epochs"] = 999, ["momentum"] = 1 },
        }, HttpStatusCode.BadRequest);
        Assert.NotNull(refused["errors"]!["params/epochs"]);
        Assert.Contains("unknown param", refused["errors"]!["params/momentum"]![0]!.GetValue<string>());

        var cli = await server.Cli("finetune", "admin/image-classifier", "--dataset", "admin/digits-train", "--param", "epochs=3",
            "--param", "lr=1", "--wait");
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Contains("epoch 3/3", cli.Stdout);
        Assert.Contains("admin/image-classifier version 2 made by ft-", cli.Stdout);

        var jobs = await server.Api(HttpMethod.Get, "/api/finetunes?model=admin/image-classifier", null);
        var job = jobs.AsArray().Single()!;
        Assert.Equal("succeeded", job["status"]!.GetValue<string>());
        var detail = await server.Api(HttpMethod.Get, $"/api/finetunes/{job["id"]}", null);
        Assert.Equal([1, 2, 3], detail["history"]!.AsArray().Select(p => p!["epoch"]!.GetValue<int>()));
        Assert.Contains("training admin/image-classifier version 1 on admin/digits-train version 1 (900 records)", detail["logs"]!.GetValue<string>());

        // the version: not live, same code, new weights, its lineage
        var model = await server.Api(HttpMethod.Get, "/api/models/admin/image-classifier", null);
        Assert.Equal(1, model["liveVersion"]!.GetValue<int>());
        var v1 = await server.Api(HttpMethod.Get, "/api/models/admin/image-classifier/versions/1", null);
        var v2 = await server.Api(HttpMethod.Get, "/api/models/admin/image-classifier/versions/2", null);
        string Sha(JsonNode v, string path) => v["files"]!.AsArray().Single(f => f!["path"]!.GetValue<string>() == path)!["sha256"]!.GetValue<string>();
        Assert.Equal(Sha(v1, "model.py"), Sha(v2, "model.py"));
        Assert.NotEqual(Sha(v1, "weights.npz"), Sha(v2, "weights.npz"));
        var lineage = v2["lineage"]!;
        Assert.Equal(job["id"]!.GetValue<string>(), lineage["job"]!.GetValue<string>());
        Assert.Equal("admin/image-classifier", lineage["baseModel"]!.GetValue<string>());
        Assert.Equal(1, lineage["baseVersion"]!.GetValue<int>());
        Assert.Equal("admin/digits-train", lineage["dataset"]!.GetValue<string>());
        Assert.Equal(1, lineage["datasetVersion"]!.GetValue<int>());
        Assert.Equal(3, lineage["params"]!["epochs"]!.GetValue<int>());
        Assert.Equal(1.0, lineage["params"]!["lr"]!.GetValue<double>());
        Assert.Equal(0.0, lineage["params"]!["l2"]!.GetValue<double>());
        Assert.InRange(lineage["metrics"]!["accuracy"]!.GetValue<double>(), 0.9, 1.0);
        Assert.Contains("epoch", lineage["logs"]!.GetValue<string>());
        Assert.Null(v1["lineage"]);
        var versions = await server.Cli("versions", "list", "admin/image-classifier");
        Assert.Contains("admin/image-classifier@1 on admin/digits-train@1 (epochs=3, lr=1, l2=0", versions.Stdout);

        // the new version is scored by itself on the held-out digits: the board of every version shows both
        var evaluation = await server.WaitForEvaluationAsync("admin", "image-classifier", 2, "digits-heldout");
        Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
        Assert.Equal("model-ready", evaluation["trigger"]!.GetValue<string>());
        var board = await server.Api(HttpMethod.Get, "/api/leaderboards/image-classification?dataset=admin/digits-heldout&versions=all", null);
        var entries = board["entries"]!.AsArray().Where(e => e!["model"]!.GetValue<string>() == "image-classifier").ToList();
        Assert.Equal([1, 2], entries.Select(e => e!["version"]!.GetValue<int>()).Order());
        Assert.Equal(evaluation["id"]!.GetValue<string>(), entries.Single(e => e!["version"]!.GetValue<int>() == 2)!["evaluationId"]!.GetValue<string>());
        var leaderboard = await server.Cli("leaderboard", "image-classification", "--dataset", "admin/digits-heldout", "--all-versions");
        Assert.True(leaderboard.ExitCode == 0, leaderboard.ToString());

        // another user may run the public model and read the public dataset but not publish to the model: the result is theirs
        var eve = await server.NewUserTokenAsync("eve-ft");
        var started = await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject
        {
            ["model"] = "admin/image-classifier", ["dataset"] = "admin/digits-train", ["params"] = new JsonObject { ["epochs"] = 1 },
        }, HttpStatusCode.Accepted, eve);
        Assert.Equal("eve-ft/image-classifier-ft", started["resultModel"]!.GetValue<string>());
        var eveJob = await server.WaitForJobAsync(started["id"]!.GetValue<string>(), eve);
        Assert.True(eveJob["status"]!.GetValue<string>() == "succeeded", eveJob.ToJsonString());
        var eveVersion = await server.Api(HttpMethod.Get, "/api/models/eve-ft/image-classifier-ft/versions/1", null, HttpStatusCode.OK, eve);
        Assert.Equal("admin/image-classifier", eveVersion["lineage"]!["baseModel"]!.GetValue<string>());
        Assert.Equal(Sha(v1, "model.py"), Sha(eveVersion, "model.py"));
        // private to eve; admin's job does not exist for eve; the admin model got no version from eve
        var eveModel = await server.Api(HttpMethod.Get, "/api/models/eve-ft/image-classifier-ft", null, HttpStatusCode.OK, eve);
        Assert.Equal("private", eveModel["visibility"]!.GetValue<string>());
        await server.Api(HttpMethod.Get, $"/api/finetunes/{job["id"]}", null, HttpStatusCode.NotFound, eve);
        await server.Api(HttpMethod.Delete, $"/api/finetunes/{job["id"]}", null, HttpStatusCode.NotFound, eve);
        Assert.Equal(2, (await server.Api(HttpMethod.Get, "/api/models/admin/image-classifier", null))["latestVersion"]!.GetValue<int>());
        // a private model or dataset of someone else cannot be fine-tuned: 404
        await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject { ["model"] = "admin/train-hostile", ["dataset"] = "admin/digits-train" },
            HttpStatusCode.NotFound, eve);
        Assert.Empty(await FeatherServer.StepContainersAsync(server.Server.InstanceId));
    }

    [Fact]
    public async Task Cancelling_a_running_job_leaves_no_container_and_no_version()
    {
        var dataset = await server.TextDatasetAsync("ft-sleepy");
        var versionsBefore = (await server.Api(HttpMethod.Get, "/api/models/admin/train-hostile/versions", null)).AsArray().Count;
        var started = await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject
        {
            ["model"] = "admin/train-hostile", ["dataset"] = dataset, ["params"] = new JsonObject { ["mode"] = "sleep", ["seconds"] = 300 },
        }, HttpStatusCode.Accepted);
        var id = started["id"]!.GetValue<string>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            var job = await server.Api(HttpMethod.Get, $"/api/finetunes/{id}", null);
            var running = await FeatherServer.Docker("ps", "-q", "--filter", $"label=org.feather.finetune={id}");
            if (job["logs"]!.GetValue<string>().Contains("sleeping") && running.Stdout.Trim().Length > 0) break;
            Assert.True(DateTime.UtcNow < deadline, "the job did not start its container: " + job.ToJsonString());
            await Task.Delay(250);
        }
        await server.Api(HttpMethod.Delete, $"/api/finetunes/{id}", null, HttpStatusCode.OK);
        var done = await server.WaitForJobAsync(id);
        Assert.Equal("cancelled", done["status"]!.GetValue<string>());
        Assert.Null(done["resultVersion"]);
        var left = await FeatherServer.Docker("ps", "-aq", "--filter", $"label=org.feather.finetune={id}");
        Assert.Equal("", left.Stdout.Trim());
        Assert.Empty(await FeatherServer.StepContainersAsync(server.Server.InstanceId));
        Assert.Equal(versionsBefore, (await server.Api(HttpMethod.Get, "/api/models/admin/train-hostile/versions", null)).AsArray().Count);
        await server.Api(HttpMethod.Delete, $"/api/finetunes/{id}", null, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task A_raising_training_function_fails_the_job_with_its_traceback_in_the_log()
    {
        var dataset = await server.TextDatasetAsync("ft-raise");
        var versionsBefore = (await server.Api(HttpMethod.Get, "/api/models/admin/train-hostile/versions", null)).AsArray().Count;
        var cli = await server.Cli("finetune", "admin/train-hostile", "--dataset", dataset, "--param", "mode=raise", "--wait");
        Assert.Equal(13, cli.ExitCode);
        Assert.Contains("fine-tune failed: ZeroDivisionError: division by zero", cli.Stderr);
        var job = (await server.Api(HttpMethod.Get, "/api/finetunes?model=admin/train-hostile", null)).AsArray()
            .First(j => j!["dataset"]!.GetValue<string>() == dataset)!;
        var detail = await server.Api(HttpMethod.Get, $"/api/finetunes/{job["id"]}", null);
        Assert.Equal("failed", detail["job"]!["status"]!.GetValue<string>());
        var logs = detail["logs"]!.GetValue<string>();
        Assert.Contains("Traceback (most recent call last)", logs);
        Assert.Contains("in _bad_helper", logs);
        Assert.Contains("return records / 0", logs);
        Assert.Contains("ZeroDivisionError: division by zero", logs);
        Assert.Single(detail["history"]!.AsArray()); // the report before it raised
        Assert.Equal(versionsBefore, (await server.Api(HttpMethod.Get, "/api/models/admin/train-hostile/versions", null)).AsArray().Count);
    }

    [Fact]
    public async Task A_job_has_the_profiles_training_timeout_not_its_step_timeout()
    {
        var dataset = await server.TextDatasetAsync("ft-timeout");
        async Task<string> Start(int seconds) => (await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject
        {
            ["model"] = "admin/train-hostile", ["dataset"] = dataset, ["params"] = new JsonObject { ["mode"] = "sleep", ["seconds"] = seconds },
        }, HttpStatusCode.Accepted))["id"]!.GetValue<string>();
        var longer = await Start(35);      // past the step timeout (30 s), within the training timeout (45 s)
        var endless = await Start(600);
        var done = await server.WaitForJobAsync(longer);
        Assert.True(done["status"]!.GetValue<string>() == "succeeded", done.ToJsonString());
        var killed = await server.WaitForJobAsync(endless);
        Assert.Equal("failed", killed["status"]!.GetValue<string>());
        Assert.Equal("timed out after 45 s", killed["error"]!.GetValue<string>());
        Assert.Empty((await FeatherServer.Docker("ps", "-aq", "--filter", $"label=org.feather.finetune={endless}")).Stdout.Trim());
    }

    [Fact]
    public async Task A_training_job_cannot_reach_the_network_that_a_normal_container_can()
    {
        var dataset = await server.TextDatasetAsync("ft-net");
        var network = "feather-e2e-" + Guid.NewGuid().ToString("N")[..8];
        var listener = network + "-listener";
        Assert.Equal(0, (await FeatherServer.Docker("network", "create", network)).ExitCode);
        try
        {
            var run = await FeatherServer.Docker("run", "-d", "--name", listener, "--network", network,
                "--label", "org.feather.test=e2e", "feather-base:bookworm", "python3", "-m", "http.server", "8000");
            Assert.True(run.ExitCode == 0, run.ToString());
            var ip = (await FeatherServer.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", listener)).Stdout.Trim();
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+$", ip);
            var control = await FeatherServer.Docker("run", "--rm", "--network", network, "--label", "org.feather.test=e2e",
                "feather-base:bookworm", "python3", "-c",
                $"import socket,time\nfor i in range(50):\n  try: socket.create_connection(('{ip}', 8000), timeout=3); print('connected'); break\n  except OSError: time.sleep(0.2)");
            Assert.Contains("connected", control.Stdout);

            var targets = $"{ip}:8000 127.0.0.1:{new Uri(server.Server.Url).Port}";
            var started = await server.Api(HttpMethod.Post, "/api/finetunes", new JsonObject
            {
                ["model"] = "admin/train-hostile", ["dataset"] = dataset, ["params"] = new JsonObject { ["mode"] = "network", ["targets"] = targets },
            }, HttpStatusCode.Accepted);
            var job = await server.WaitForJobAsync(started["id"]!.GetValue<string>());
            Assert.True(job["status"]!.GetValue<string>() == "succeeded", job.ToJsonString());
            var logs = (await server.Api(HttpMethod.Get, $"/api/finetunes/{job["id"]}", null))["logs"]!.GetValue<string>();
            Assert.Contains($"{ip}:8000 blocked", logs);
            Assert.Contains($"127.0.0.1:{new Uri(server.Server.Url).Port} blocked", logs);
            Assert.Contains("dns blocked", logs);
            Assert.DoesNotContain("connected", logs);
        }
        finally
        {
            await FeatherServer.Docker("rm", "-f", listener);
            await FeatherServer.Docker("network", "rm", network);
        }
    }
}

/// <summary>A server for the fine-tuning tests, on the runner image built from this checkout's SDK, with train-hostile published.</summary>
public sealed class FinetuneServer : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("feather-e2e-ft-").FullName;
    public FeatherServer Server { get; private set; } = null!;
    public string Token { get; private set; } = "";

    public async Task InitializeAsync()
    {
        // the runner image of this checkout's SDK (the runtime's train mode), by its content tag
        var tag = await FeatherServer.RunnerImageOfThisCheckoutAsync();
        Server = new FeatherServer(new Dictionary<string, string>
        {
            ["Runner__BaseImage"] = tag,
            ["Runner__WarmContainers"] = "0",
            ["Evaluations__MaxConcurrent"] = "2",
            ["Finetunes__MaxConcurrent"] = "2",
            // longer than the low profile's step timeout (30 s), short enough to see it end a job
            ["Runner__Profiles__Low__TrainingTimeoutSeconds"] = "45",
        });
        await Server.InitializeAsync();
        var publish = await Server.Cli("publish", "tests/models/train-hostile", "--wait");
        if (publish.ExitCode != 0) throw new InvalidOperationException($"publishing train-hostile failed: {publish}\n{Server.ServerLog}");
        Token = await TokenAsync("admin", Server.AdminPassword, "admin");
    }

    public Task<CommandResult> Cli(params string[] args) => Server.Cli(args);

    private async Task<string> TokenAsync(string user, string password, params string[] extraScopes)
    {
        using var response = await Server.Http.PostAsJsonAsync($"{Server.Url}/api/auth/tokens",
            new { username = user, password, name = "finetune-tests", scopes = new[] { "read", "run", "publish" }.Concat(extraScopes).ToArray() });
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

    /// <summary>The job once it ended.</summary>
    public async Task<JsonNode> WaitForJobAsync(string id, string? token = null)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            var job = (await Api(HttpMethod.Get, $"/api/finetunes/{id}", null, null, token))["job"]!;
            if (job["status"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled") return job;
            Assert.True(DateTime.UtcNow < deadline, $"the job {id} did not end: {job.ToJsonString()}\n{Server.ServerLog[^Math.Min(4000, Server.ServerLog.Length)..]}");
            await Task.Delay(250);
        }
    }

    /// <summary>The newest finished evaluation of one version of the model on the dataset.</summary>
    public async Task<JsonNode> WaitForEvaluationAsync(string owner, string model, int version, string dataset)
    {
        var deadline = DateTime.UtcNow.AddMinutes(8);
        while (true)
        {
            var list = await Api(HttpMethod.Get, $"/api/models/{owner}/{model}/evaluations", null);
            var found = list.AsArray().FirstOrDefault(e => e!["dataset"]!.GetValue<string>() == dataset && e["modelVersion"]!.GetValue<int>() == version);
            if (found is not null && found["status"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled") return found;
            Assert.True(DateTime.UtcNow < deadline, $"no finished evaluation of {owner}/{model} version {version} on {dataset}: {list.ToJsonString()}\n{Server.ServerLog[^Math.Min(4000, Server.ServerLog.Length)..]}");
            await Task.Delay(500);
        }
    }

    /// <summary>Publishes a small private text-classification dataset; answers admin/NAME.</summary>
    public async Task<string> TextDatasetAsync(string name)
    {
        var dir = Path.Combine(_work, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "dataset.json"), new JsonObject
        {
            ["name"] = name, ["description"] = "a few texts", ["task"] = "text-classification", ["records"] = "records.jsonl",
            ["fields"] = new JsonArray(
                new JsonObject { ["name"] = "text", ["type"] = "text", ["role"] = "input" },
                new JsonObject { ["name"] = "label", ["type"] = "label", ["role"] = "label" }),
        }.ToJsonString());
        File.WriteAllLines(Path.Combine(dir, "records.jsonl"),
            Enumerable.Range(0, 6).Select(i => new JsonObject { ["text"] = $"record {i}", ["label"] = $"class-{i % 2}" }.ToJsonString()));
        var publish = await Cli("datasets", "publish", dir);
        Assert.True(publish.ExitCode == 0, publish.ToString());
        return $"admin/{name}";
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }
}

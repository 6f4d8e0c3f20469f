using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Feather.Tests.Swarm;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The server in swarm mode beyond single steps (<see cref="SwarmServer"/>, one step at a time): an evaluation job
/// runs as swarm jobs and scores what the SDK scores locally; the fair queue interleaves two users' steps; step files
/// too large for a swarm step's request are refused with a clear message. After every test no service, secret,
/// network or container of the server is left.
/// </summary>
[Collection("swarm-e2e")]
public sealed partial class SwarmWorkloadTests(SwarmServer server) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => Assert.Empty(await SwarmLab.LeftoversAfterAsync(server.Server.InstanceId));

    /// <summary>How many swarm steps the server has started (its log line names the step's image in the registry).</summary>
    private int SwarmStepsStarted() =>
        Regex.Matches(server.Server.ServerLog, Regex.Escape($"\"Image\":\"{server.Lab.Registry}/feather/feather-version@sha256:")).Count;

    [Fact]
    public async Task An_evaluation_runs_as_swarm_jobs_and_scores_what_the_sdk_scores_locally()
    {
        var before = SwarmStepsStarted();
        var dataset = await server.Server.Cli("datasets", "publish", "samples/datasets/digits-heldout", "--visibility", "public");
        Assert.True(dataset.ExitCode == 0, dataset.ToString());
        var publish = await server.Server.Cli("publish", "samples/image-classifier", "--wait", "--visibility", "public");
        Assert.True(publish.ExitCode == 0, publish + server.Server.ServerLog);

        // publishing the model scores it on the dataset by itself
        JsonNode evaluation;
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            var list = await server.Api(HttpMethod.Get, "/api/models/admin/image-classifier/evaluations", null);
            var found = list.AsArray().FirstOrDefault(e => e!["dataset"]!.GetValue<string>() == "digits-heldout");
            if (found is not null && found["status"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled")
            {
                evaluation = found;
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"no finished evaluation: {list.ToJsonString()}");
            await Task.Delay(500);
        }
        Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString() + server.Server.ServerLog[^Math.Min(6000, server.Server.ServerLog.Length)..]);
        Assert.Equal(450, evaluation["recordsDone"]!.GetValue<long>());
        // its chunks ran as swarm jobs, from the registry
        Assert.True(SwarmStepsStarted() > before, "no swarm step was started for the evaluation");

        // the SDK, locally, on the same files: the same predictions, so the same metrics
        var local = await CommandResult.RunAsync("/usr/bin/python3",
            ["-m", "feather", "evaluate", "samples/image-classifier", "--dataset", "samples/datasets/digits-heldout", "--json"],
            server.Server.RepoRoot, null, new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(server.Server.RepoRoot, "python-sdk") });
        Assert.True(local.ExitCode == 0, local.ToString());
        var expected = JsonDocument.Parse(local.Stdout).RootElement;
        var metrics = evaluation["metrics"]!;
        Assert.Equal(expected.GetProperty("metrics").GetProperty("accuracy").GetDouble(), metrics["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(expected.GetProperty("metrics").GetProperty("macro_f1").GetDouble(), metrics["macro_f1"]!.GetValue<double>(), 12);
        var records = await server.Api(HttpMethod.Get, $"/api/evaluations/{evaluation["id"]!.GetValue<string>()}/records?limit=10000", null);
        Assert.Equal(expected.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("prediction").GetString()!).ToArray(),
            records["records"]!.AsArray().Select(r => r!["prediction"]!.GetValue<string>()).ToArray());
        Assert.InRange(metrics["accuracy"]!.GetValue<double>(), 0.9, 1.0);
    }

    [Fact]
    public async Task With_one_step_at_a_time_two_users_steps_take_turns()
    {
        var bob = await server.NewUserTokenAsync("bob-" + Guid.NewGuid().ToString("n")[..6]);
        // admin's endless step holds the one slot while the others queue behind it
        var (blocker, _) = await server.SubmitAsync("loop", "");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while ((await server.Api(HttpMethod.Get, $"/api/runs/{blocker}/steps/0", null))["status"]!.GetValue<string>() != "running")
        {
            Assert.True(DateTime.UtcNow < deadline, "the blocking step did not start");
            await Task.Delay(200);
        }

        // admin submits two hello steps, then bob two: first come is not first served
        var submitted = new List<(string Who, string Run)>();
        foreach (var (who, token) in new[] { ("admin-1", (string?)null), ("admin-2", null), ("bob-1", bob), ("bob-2", bob) })
        {
            var run = (await server.Api(HttpMethod.Post, "/api/models/admin/hello/runs", new JsonObject(), HttpStatusCode.Created, token))["id"]!.GetValue<string>();
            await server.Api(HttpMethod.Post, $"/api/runs/{run}/steps/0",
                new JsonObject { ["responses"] = JsonNode.Parse("""{"name": {"texts": ["Ada"]}}""") }, HttpStatusCode.Accepted, token);
            submitted.Add((who, run));
        }
        // all four wait in the runner's queue (its gauge), then the blocker is cancelled and frees the slot
        while (QueueLength(await server.Server.Http.GetStringAsync($"{server.Server.Url}/metrics")) < 4)
        {
            Assert.True(DateTime.UtcNow < deadline, "the four steps did not all reach the queue");
            await Task.Delay(100);
        }
        using (var cancel = new HttpRequestMessage(HttpMethod.Delete, $"{server.Server.Url}/api/runs/{blocker}/steps/0"))
        {
            cancel.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
            using var response = await server.Server.Http.SendAsync(cancel);
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Equal("cancelled", (await server.WaitAsync(blocker))["status"]!.GetValue<string>());

        var started = new List<(string Who, DateTime At)>();
        foreach (var (who, run) in submitted)
        {
            var step = await server.WaitAsync(run);
            Assert.True(step["status"]!.GetValue<string>() == "succeeded", step.ToJsonString());
            started.Add((who, step["startedAt"]!.GetValue<DateTime>()));
        }
        Assert.Equal(["admin-1", "bob-1", "admin-2", "bob-2"], started.OrderBy(s => s.At).Select(s => s.Who).ToArray());
    }

    private static double QueueLength(string metrics) =>
        QueueGauge().Match(metrics) is { Success: true } m ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;

    [GeneratedRegex(@"^feather_step_queue_length ([0-9.eE+-]+)$", RegexOptions.Multiline)]
    private static partial Regex QueueGauge();

    [Fact]
    public async Task A_file_that_cannot_fit_a_swarm_steps_request_is_refused_clearly_and_a_small_one_goes_through()
    {
        async Task<JsonNode> Upload(string run, string name, byte[] data)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{server.Server.Url}/api/runs/{run}/files?name={name}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
            request.Content = new ByteArrayContent(data);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await server.Server.Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"upload: {(int)response.StatusCode} {text}");
            return JsonNode.Parse(text)!;
        }
        async Task<JsonNode> Step(byte[] data)
        {
            var run = (await server.Api(HttpMethod.Post, "/api/models/admin/files/runs", new JsonObject(), HttpStatusCode.Created))["id"]!.GetValue<string>();
            var file = await Upload(run, "weights.pt", data);
            var responses = new JsonObject
            {
                ["weights"] = new JsonObject
                {
                    ["files"] = new JsonArray(new JsonObject { ["name"] = "weights.pt", ["media_type"] = "application/octet-stream", ["file"] = file["id"]!.GetValue<string>() }),
                },
            };
            await server.Api(HttpMethod.Post, $"/api/runs/{run}/steps/0", new JsonObject { ["responses"] = responses }, HttpStatusCode.Accepted);
            return await server.WaitAsync(run);
        }

        // a small file travels inline in the swarm step's request and is read whole there
        var small = new byte[1 << 20];
        Random.Shared.NextBytes(small);
        var ok = await Step(small);
        Assert.True(ok["status"]!.GetValue<string>() == "succeeded", ok.ToJsonString());
        Assert.Equal($"{small.Length} {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(small))}",
            ok["outputs"]![1]!["value"]!["texts"]![0]!.GetValue<string>());

        // 24 MiB is 32 MiB in base64, past the 28.8 MiB a swarm step's request can carry: refused before any job is made
        var services = SwarmStepsStarted();
        var big = new byte[24 << 20];
        var refused = await Step(big);
        Assert.Equal("failed", refused["status"]!.GetValue<string>());
        var message = refused["error"]!["message"]!.GetValue<string>();
        Assert.Contains($"the step's input files have {big.Length} bytes; in swarm mode a step's files travel inside its request, which takes at most 29491200 bytes", message);
        Assert.Equal(services, SwarmStepsStarted());
    }
}

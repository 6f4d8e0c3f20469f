using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>
/// Runs of a model with a graph of steps (schema_version 2): the server decides what may come next from the graph and the
/// branch the step's result reported, refuses (409) a step that is not next on the path, validates responses against what
/// the step before on the path offered, and discards a branch left by a re-run. The model:
/// <c>ask --short--> end, --long--> pick (loop, at most 2) --done--> finish --> end</c>.
/// </summary>
public class GraphRunsTests
{
    private const string Select = """{"type": "object", "required": ["selected"], "additionalProperties": false, "properties": {"selected": {"type": "integer", "minimum": 0}}}""";

    /// <summary>The metadata `python3 -m feather inspect` writes for that model (its shape; checked by the SDK tests).</summary>
    internal static TestModel GraphModel(string name = "graph") => new()
    {
        Name = name,
        Customize = m =>
        {
            m["schema_version"] = 2;
            m["num_steps"] = 3;
            var choices = $$$"""{"name": "choices", "component": "List.SelectOne", "version": 1, "interactive": true, "props": {}, "schema": {"value": null, "response": {{{Select}}}}}""";
            m["steps"] = JsonNode.Parse($$$"""
                [
                  {"name": "ask", "title": "Ask", "description": "", "inputs": {{{m["init"]!.ToJsonString()}}}, "outputs": [{{{choices}}}]},
                  {"name": "pick", "title": "Pick", "description": "", "inputs": [{{{choices}}}], "outputs": [{{{choices}}}]},
                  {"name": "finish", "title": "Finish", "description": "", "inputs": [{{{choices}}}],
                   "outputs": [{"name": "output", "component": "Text.View", "version": 1, "props": {}, "schema": {"value": null, "response": null}}]}
                ]
                """);
            m["final_outputs"] = m["steps"]![2]!["outputs"]!.DeepClone();
            m["graph"] = JsonNode.Parse("""
                {"start": "ask",
                 "edges": [{"from": "ask", "to": null, "when": "short"}, {"from": "ask", "to": "pick", "when": "long"},
                           {"from": "pick", "to": "pick", "when": "again"}, {"from": "pick", "to": "finish", "when": "done"},
                           {"from": "finish", "to": null, "when": null}],
                 "loops": [{"step": "pick", "max": 2}]}
                """);
        },
    };

    /// <summary>
    /// TEST DOUBLE of the runtime for <see cref="GraphModel"/>: "ask" reports branch long when the name is long (else short;
    /// "forge" reports a branch the model does not declare); "pick" reports done when item 2 was selected, else again.
    /// </summary>
    private sealed class GraphExecutor : IStepExecutor
    {
        public ConcurrentQueue<JsonNode> Requests { get; } = new();

        public Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
        {
            var runtime = JsonNode.Parse(request.RequestJson)!;
            Requests.Enqueue(runtime);
            var step = runtime["step"]!.GetValue<int>();
            var choices = JsonNode.Parse("""{"name": "choices", "component": "List.SelectOne", "version": 1, "props": {}, "value": {"items": ["a", "b", "c"]}, "schema": {"value": null, "response": {"type": "object", "required": ["selected"], "additionalProperties": false, "properties": {"selected": {"type": "integer", "minimum": 0, "maximum": 2}}}}}""")!;
            var result = new JsonObject { ["type"] = "result", ["status"] = "succeeded" };
            switch (step)
            {
                case 0:
                    var text = runtime["responses"]!["name"]!["texts"]![0]!.GetValue<string>();
                    result["outputs"] = new JsonArray(choices);
                    result["branch"] = text == "forge" ? "sideways" : text.Length > 5 ? "long" : "short";
                    break;
                case 1:
                    result["outputs"] = new JsonArray(choices);
                    result["branch"] = runtime["responses"]!["choices"]!["selected"]!.GetValue<int>() == 2 ? "done" : "again";
                    break;
                default:
                    result["outputs"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "output", ["component"] = "Text.View", ["version"] = 1, ["props"] = new JsonObject(),
                        ["value"] = new JsonObject { ["texts"] = new JsonArray("finished") },
                    });
                    break;
            }
            return Task.FromResult(new StepExecutionResult(StepOutcome.Succeeded, JsonDocument.Parse(result.ToJsonString()).RootElement.Clone(),
                "", "ok", TimeSpan.FromMilliseconds(1)));
        }
    }

    private sealed class Published : IAsyncDisposable
    {
        public required FeatherTestServer Server { get; init; }
        public required HttpClient Client { get; init; }
        public required GraphExecutor Executor { get; init; }

        public static async Task<Published> StartAsync()
        {
            var executor = new GraphExecutor();
            var server = await FeatherTestServer.StartAsync(services: s =>
            {
                s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
                s.AddSingleton<IStepExecutor>(executor);
            });
            var client = server.Client(await server.AdminTokenAsync());
            await GraphModel().PublishAsync(client);
            for (var i = 0; i < 100; i++)
            {
                var v = await (await client.GetAsync("/api/models/admin/graph/versions/1")).Json(HttpStatusCode.OK);
                if (v["image"]!["status"]!.GetValue<string>() == "ready") break;
                await Task.Delay(100);
            }
            return new Published { Server = server, Client = client, Executor = executor };
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
        }

        public async Task<string> StartRunAsync() =>
            (await (await Client.PostAsJsonAsync("/api/models/admin/graph/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        public Task<HttpResponseMessage> SubmitAsync(string runId, int index, JsonObject responses, string? step = null)
        {
            var body = new JsonObject { ["responses"] = responses };
            if (step is not null) body["step"] = step;
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{runId}/steps/{index}") { Content = JsonContent.Create(body) };
            request.Headers.Add("Prefer", "wait=30");
            return Client.SendAsync(request);
        }

        public async Task<JsonNode> RunAsync(string runId) => await (await Client.GetAsync($"/api/runs/{runId}")).Json(HttpStatusCode.OK);
    }

    private static JsonObject Name(string text) => new() { ["name"] = new JsonObject { ["texts"] = new JsonArray(text) } };
    private static JsonObject Pick(int item) => new() { ["choices"] = new JsonObject { ["selected"] = item } };
    private static string[] Path(JsonNode run) => run["steps"]!.AsArray().Select(s => $"{s!["name"]}:{s["status"]}").ToArray();
    private static string[] Next(JsonNode step) => step["next"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();

    [Fact]
    public async Task A_graph_run_starts_with_its_first_step_and_ends_where_the_reported_branch_ends()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();
        Assert.Equal(["ask:awaiting_input"], Path(await p.RunAsync(id)));

        var ask = await (await p.SubmitAsync(id, 0, Name("Ada"))).Json(HttpStatusCode.OK);
        Assert.Equal("short", ask["branch"]!.GetValue<string>());
        Assert.Empty(Next(ask));
        Assert.True(ask["ends"]!.GetValue<bool>());
        var run = await p.RunAsync(id);
        Assert.Equal(["ask:succeeded"], Path(run));
        Assert.True(run["complete"]!.GetValue<bool>());

        // Nothing follows a branch that ends the run: a forged next step is refused, and nothing ran.
        var forged = await (await p.SubmitAsync(id, 1, Pick(0), step: "pick")).Json(HttpStatusCode.Conflict);
        Assert.Contains("not next on the path", forged["detail"]!.GetValue<string>());
        Assert.Contains("branch 'short'", forged["detail"]!.GetValue<string>());
        Assert.Single(p.Executor.Requests);
    }

    [Fact]
    public async Task The_server_follows_a_branch_and_a_bounded_loop_and_refuses_steps_that_are_not_next()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();

        // Step 0 must be the graph's start: another step there is refused.
        Assert.Equal(HttpStatusCode.Conflict, (await p.SubmitAsync(id, 0, Pick(0), step: "pick")).StatusCode);

        var ask = await (await p.SubmitAsync(id, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        Assert.Equal("long", ask["branch"]!.GetValue<string>());
        Assert.Equal(["pick"], Next(ask));
        Assert.Equal(["ask:succeeded", "pick:awaiting_input"], Path(await p.RunAsync(id)));

        // A client cannot skip the loop: finish is not offered after ask.
        var skip = await (await p.SubmitAsync(id, 1, Pick(0), step: "finish")).Json(HttpStatusCode.Conflict);
        Assert.Contains("offers 'pick'", skip["detail"]!.GetValue<string>());
        // Responses are checked against what ask offered (3 items).
        var outOfRange = await (await p.SubmitAsync(id, 1, Pick(5))).Json(HttpStatusCode.BadRequest);
        Assert.Equal("choices", outOfRange["input"]!.GetValue<string>());

        var first = await (await p.SubmitAsync(id, 1, Pick(0))).Json(HttpStatusCode.OK);
        Assert.Equal("again", first["branch"]!.GetValue<string>());
        Assert.Equal(1, first["iteration"]!.GetValue<int>());
        Assert.Equal(["pick", "finish"], Next(first));
        var second = await (await p.SubmitAsync(id, 2, Pick(1))).Json(HttpStatusCode.OK);
        Assert.Equal(2, second["iteration"]!.GetValue<int>());
        // The loop's bound (2) is reached: only its exit is offered, and a third iteration is refused.
        Assert.Equal(["finish"], Next(second));
        var third = await (await p.SubmitAsync(id, 3, Pick(0), step: "pick")).Json(HttpStatusCode.Conflict);
        Assert.Contains("offers 'finish'", third["detail"]!.GetValue<string>());

        var finish = await (await p.SubmitAsync(id, 3, Pick(1))).Json(HttpStatusCode.OK);
        Assert.Equal("finish", finish["name"]!.GetValue<string>());
        var run = await p.RunAsync(id);
        Assert.Equal(["ask:succeeded", "pick:succeeded", "pick:succeeded", "finish:succeeded"], Path(run));
        Assert.True(run["complete"]!.GetValue<bool>());

        // The runtime got each step's index in the metadata and the outputs of the step before on the path.
        var requests = p.Executor.Requests.ToArray();
        Assert.Equal([0, 1, 1, 2], requests.Select(r => r["step"]!.GetValue<int>()));
        Assert.Equal(second["outputs"]!.ToJsonString(), requests[3]["previous"]!.ToJsonString());
    }

    [Fact]
    public async Task Server_sent_events_and_execute_carry_the_branch_and_the_steps_offered_next()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();
        await (await p.SubmitAsync(id, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        var events = await p.Client.GetStringAsync($"/api/runs/{id}/steps/0/events");
        var result = events.Split("\n").SkipWhile(l => l != "event: result").Skip(1).First();
        var step = JsonNode.Parse(result["data:".Length..])!;
        Assert.Equal("long", step["branch"]!.GetValue<string>());
        Assert.Equal(["pick"], Next(step));
        // the next position's stream follows the step the server put there
        await using (var stream = await p.Client.GetStreamAsync($"/api/runs/{id}/steps/1/events")) // open while it waits for input
        {
            using var reader = new StreamReader(stream);
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null && !line.StartsWith("data:")) { }
            Assert.Contains("\"name\":\"pick\"", line);
            Assert.Contains("\"status\":\"awaiting_input\"", line);
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "/api/models/admin/graph/execute") { Content = JsonContent.Create(new JsonObject { ["responses"] = Name("Ada") }) };
        request.Headers.Add("Prefer", "wait=30");
        var executed = await (await p.Client.SendAsync(request)).Json(HttpStatusCode.OK);
        Assert.Equal("short", executed["step"]!["branch"]!.GetValue<string>());
        Assert.True(executed["step"]!["ends"]!.GetValue<bool>());
        Assert.True((await p.RunAsync(executed["runId"]!.GetValue<string>()))["complete"]!.GetValue<bool>());
    }

    [Fact]
    public async Task The_user_may_leave_a_loop_early_and_the_model_may_end_it()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();
        await (await p.SubmitAsync(id, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        await (await p.SubmitAsync(id, 1, Pick(0))).Json(HttpStatusCode.OK);
        // The user moves on after one iteration: the waiting second iteration gives way to finish.
        await (await p.SubmitAsync(id, 2, Pick(0), step: "finish")).Json(HttpStatusCode.OK);
        Assert.Equal(["ask:succeeded", "pick:succeeded", "finish:succeeded"], Path(await p.RunAsync(id)));

        // The model ends the loop (item 2: done): only finish follows.
        var id2 = await p.StartRunAsync();
        await (await p.SubmitAsync(id2, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        var done = await (await p.SubmitAsync(id2, 1, Pick(2))).Json(HttpStatusCode.OK);
        Assert.Equal("done", done["branch"]!.GetValue<string>());
        Assert.Equal(["finish"], Next(done));
        Assert.Equal(["ask:succeeded", "pick:succeeded", "finish:awaiting_input"], Path(await p.RunAsync(id2)));
    }

    [Fact]
    public async Task Re_running_a_step_that_takes_another_branch_discards_the_old_branch_as_stale()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();
        await (await p.SubmitAsync(id, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        await (await p.SubmitAsync(id, 1, Pick(0))).Json(HttpStatusCode.OK);

        // Re-run the same branch: the later steps stay on the path, stale.
        await (await p.SubmitAsync(id, 0, Name("Ada Lovelace"))).Json(HttpStatusCode.OK);
        Assert.Equal(["ask:succeeded", "pick:stale", "pick:pending"], Path(await p.RunAsync(id)));

        // Re-run taking the other branch: the old branch's steps leave the path, kept as discarded and stale.
        var back = await (await p.SubmitAsync(id, 0, Name("Ada"))).Json(HttpStatusCode.OK);
        Assert.Equal("short", back["branch"]!.GetValue<string>());
        var run = await p.RunAsync(id);
        Assert.Equal(["ask:succeeded"], Path(run));
        Assert.True(run["complete"]!.GetValue<bool>());
        Assert.Contains(run["discarded"]!.AsArray(), s => s!["name"]!.GetValue<string>() == "pick" && s["status"]!.GetValue<string>() == "stale");
        Assert.Equal(HttpStatusCode.Conflict, (await p.SubmitAsync(id, 1, Pick(0))).StatusCode);

        // And back again: the long branch offers pick anew.
        await (await p.SubmitAsync(id, 0, Name("Grace Hopper"))).Json(HttpStatusCode.OK);
        Assert.Equal(["ask:succeeded", "pick:awaiting_input"], Path(await p.RunAsync(id)));
    }

    [Fact]
    public async Task A_result_naming_a_branch_the_graph_does_not_declare_fails_the_step()
    {
        await using var p = await Published.StartAsync();
        var id = await p.StartRunAsync();
        var forged = await (await p.SubmitAsync(id, 0, Name("forge"))).Json(HttpStatusCode.OK);
        Assert.Equal("failed", forged["status"]!.GetValue<string>());
        Assert.Equal("protocol_error", forged["error"]!["type"]!.GetValue<string>());
        Assert.Contains("sideways", forged["error"]!["message"]!.GetValue<string>());
        Assert.Equal(["ask:failed"], Path(await p.RunAsync(id)));
    }

    [Theory]
    [InlineData("""{"start": "ask", "edges": [{"from": "ask", "to": "nowhere", "when": null}], "loops": []}""", "metadata/graph/edges/0/to")]
    [InlineData("""{"start": "pick", "edges": [{"from": "ask", "to": null, "when": null}], "loops": []}""", "metadata/graph/start")]
    [InlineData("""{"start": "ask", "edges": [{"from": "ask", "to": null, "when": null}], "loops": [{"step": "ask", "max": 3}]}""", "metadata/graph/loops/0/step")]
    [InlineData(null, "metadata/graph")]
    public async Task Publishing_refuses_a_broken_graph(string? graph, string key)
    {
        var executor = new GraphExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(executor);
        });
        using var client = server.Client(await server.AdminTokenAsync());
        var model = GraphModel();
        var metadata = model.Metadata();
        if (graph is null) metadata.Remove("graph");
        else metadata["graph"] = JsonNode.Parse(graph);
        var body = model.StartBody();
        body["metadata"] = metadata;
        var refused = await (await client.PostAsJsonAsync("/api/publish", body)).Json(HttpStatusCode.BadRequest);
        Assert.True(refused["errors"]!.AsObject().ContainsKey(key), refused.ToJsonString());
    }

    [Fact]
    public async Task The_models_OpenAPI_document_has_one_step_operation_naming_the_step_and_the_graph()
    {
        await using var p = await Published.StartAsync();
        var doc = await (await p.Client.GetAsync("/api/models/admin/graph/openapi.json")).Json(HttpStatusCode.OK);
        Assert.Equal("ask", doc["x-feather-graph"]!["start"]!.GetValue<string>());
        var paths = doc["paths"]!.AsObject();
        Assert.False(paths.ContainsKey("/api/runs/{runId}/steps/0"));
        var submit = paths["/api/runs/{runId}/steps/{index}"]!["post"]!;
        Assert.Contains("- ask → pick when it returns branch 'long'", submit["description"]!.GetValue<string>());
        Assert.Contains("- pick may run again at most 2 times in a row", submit["description"]!.GetValue<string>());
        var alternatives = submit["requestBody"]!["content"]!["application/json"]!["schema"]!["oneOf"]!.AsArray();
        Assert.Equal(3, alternatives.Count);
        var schemas = doc["components"]!["schemas"]!;
        var pick = schemas[alternatives[1]!["$ref"]!.GetValue<string>().Split('/')[^1]]!;
        Assert.Equal(["step", "responses"], pick["required"]!.AsArray().Select(r => r!.GetValue<string>()));
        Assert.Equal("pick", pick["properties"]!["step"]!["enum"]![0]!.GetValue<string>());
        Assert.Equal("ask", submit["requestBody"]!["content"]!["application/json"]!["example"]!["step"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_linear_model_records_its_path_as_before()
    {
        var executor = new TestDoubleStepExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(executor);
        });
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        for (var i = 0; i < 100 && (await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK))["image"]!["status"]!.GetValue<string>() != "ready"; i++)
            await Task.Delay(100);
        var run = await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created);
        Assert.Equal(["greet:awaiting_input", "answer:pending"], Path(run));
        var id = run["id"]!.GetValue<string>();
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/steps/0")
        {
            Content = JsonContent.Create(new JsonObject { ["responses"] = Name("Ada") }),
        };
        request.Headers.Add("Prefer", "wait=30");
        var step = await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
        Assert.Equal(["answer"], Next(step));
        Assert.False(step["ends"]!.GetValue<bool>());
        Assert.Null(step["branch"]);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync($"/api/runs/{id}/steps/2", new { responses = new { } })).StatusCode);
    }
}

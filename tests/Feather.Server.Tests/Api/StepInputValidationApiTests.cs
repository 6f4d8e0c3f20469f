using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>
/// Forged or out-of-bounds responses are refused with 400 before any container starts: the test
/// double executor counts every step the server hands to the runner.
/// </summary>
public class StepInputValidationApiTests
{
    /// <summary>TestModel whose step 1 also takes "picks" (a List.SelectMulti that step 0 offers with at most 2 of a, b, c).</summary>
    private static readonly TestModel Model = new()
    {
        Customize = m =>
        {
            var picks = JsonNode.Parse("""{"name": "picks", "component": "List.SelectMulti", "version": 1, "interactive": true, "props": {}, "schema": {"value": null, "response": {"type": "object"}}}""")!;
            foreach (var text in new[] { m["init"]![0]!, m["steps"]![0]!["inputs"]![0]! })
            {
                text["props"]!["max_chars"] = 8;
                text["schema"]!["response"]!["properties"]!["texts"]!["items"]!["maxLength"] = 8;
            }
            m["steps"]![0]!["outputs"]!.AsArray().Add(picks.DeepClone());
            m["steps"]![1]!["inputs"]!.AsArray().Add(picks);
        },
    };

    private static async Task<JsonNode> Problem(HttpClient client, string runId, int index, string responses)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{runId}/steps/{index}")
        {
            Content = JsonContent.Create(JsonNode.Parse("{\"responses\": " + responses + "}")),
        };
        request.Headers.Add("Prefer", "wait=30");
        var response = await client.SendAsync(request);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Json(HttpStatusCode.BadRequest);
    }

    private static async Task<JsonNode> Ok(HttpClient client, string runId, int index, string responses)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{runId}/steps/{index}")
        {
            Content = JsonContent.Create(JsonNode.Parse("{\"responses\": " + responses + "}")),
        };
        request.Headers.Add("Prefer", "wait=30");
        return await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_forged_selection_is_refused_naming_step_and_input_and_no_container_starts()
    {
        var executor = new TestDoubleStepExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(executor);
        });
        using var client = server.Client(await server.AdminTokenAsync());
        await Model.PublishAsync(client);
        for (var i = 0; i < 100; i++)
        {
            var v = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
            if (v["image"]!["status"]!.GetValue<string>() == "ready") break;
            await Task.Delay(100);
        }
        var run = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        // Step 0 against init: too long a name, then a missing input.
        var tooLong = await Problem(client, run, 0, """{"name": {"texts": ["Ada Lovelace"]}}""");
        Assert.Equal(0, tooLong["step"]!.GetValue<int>());
        Assert.Equal("name", tooLong["input"]!.GetValue<string>());
        Assert.Equal("texts[0]: Value should be at most 8 characters", tooLong["errors"]!["steps/0/name"]![0]!.GetValue<string>());
        var missing = await Problem(client, run, 0, "{}");
        Assert.Equal("missing response for input 'name' (Text.In)", missing["errors"]!["steps/0/name"]![0]!.GetValue<string>());
        Assert.Empty(executor.Requests);

        await Ok(client, run, 0, """{"name": {"texts": ["Ada"]}}""");
        Assert.Single(executor.Requests);

        // Step 1 against what step 0 offered: "choices" has 3 items, "picks" at most 2 of 3.
        var notOffered = await Problem(client, run, 1, """{"choices": {"selected": 3}, "picks": {"selected": [0]}}""");
        Assert.Equal(1, notOffered["step"]!.GetValue<int>());
        Assert.Equal("choices", notOffered["input"]!.GetValue<string>());
        Assert.Equal("selected: 3 should be at most 2", notOffered["errors"]!["steps/1/choices"]![0]!.GetValue<string>());
        Assert.Contains("step 1 (answer), input 'choices'", notOffered["detail"]!.GetValue<string>());

        var tooMany = await Problem(client, run, 1, """{"choices": {"selected": 0}, "picks": {"selected": [0, 1, 2]}}""");
        Assert.Equal("picks", tooMany["input"]!.GetValue<string>());
        Assert.Equal("selected: Value should have at most 2 items, not 3", tooMany["errors"]!["steps/1/picks"]![0]!.GetValue<string>());

        var both = await Problem(client, run, 1, """{"choices": {"selected": "first"}, "extra": 1}""");
        var errors = both["errors"]!.AsObject();
        Assert.Equal(["steps/1/choices", "steps/1/extra", "steps/1/picks"], errors.Select(e => e.Key).Order());
        Assert.Equal("selected: Value is \"string\" but should be \"integer\"", errors["steps/1/choices"]![0]!.GetValue<string>());
        Assert.Equal("missing response for input 'picks' (List.SelectMulti)", errors["steps/1/picks"]![0]!.GetValue<string>());

        // Nothing refused reached the runner, and the refused submissions changed nothing.
        Assert.Single(executor.Requests);
        var state = await (await client.GetAsync($"/api/runs/{run}")).Json(HttpStatusCode.OK);
        Assert.Equal(["succeeded", "awaiting_input"], state["steps"]!.AsArray().Select(s => s!["status"]!.GetValue<string>()));

        var done = await Ok(client, run, 1, """{"choices": {"selected": 1}, "picks": {"selected": [2, 0]}}""");
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        Assert.Equal(2, executor.Requests.Count);
    }
}

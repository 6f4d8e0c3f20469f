using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Runs;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>A step's server-sent events: pushed in order as the step changes, ended with the result, capped per client.</summary>
public class StepEventsTests
{
    /// <summary>TEST DOUBLE of the executor: starts, reports two log lines, waits for the test, then succeeds.</summary>
    private sealed class GatedExecutor : IStepExecutor
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
        {
            if (request.Started is not null) await request.Started();
            request.Log!.Report("loading weights");
            request.Log.Report("epoch 1");
            await Release.Task.WaitAsync(ct);
            var result = JsonDocument.Parse("""{"type":"result","status":"succeeded","outputs":[]}""").RootElement.Clone();
            return new StepExecutionResult(StepOutcome.Succeeded, result, "loading weights\nepoch 1\ndone\n", "succeeded", TimeSpan.FromMilliseconds(5));
        }
    }

    private static async Task<(FeatherTestServer Server, HttpClient Client)> StartAsync(IStepExecutor executor,
        IDictionary<string, string>? settings = null, string visibility = "private")
    {
        var server = await FeatherTestServer.StartAsync(settings, s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton(executor);
        });
        var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client, visibility: visibility);
        for (var i = 0; i < 100; i++)
        {
            var v = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
            if (v["image"]!["status"]!.GetValue<string>() == "ready") break;
            await Task.Delay(100);
        }
        return (server, client);
    }

    private static async Task<string> NewRunAsync(HttpClient client) =>
        (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

    private static HttpRequestMessage Submit(string runId, string name, int wait = 0)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{runId}/steps/0")
        {
            Content = JsonContent.Create(new JsonObject { ["responses"] = new JsonObject { ["name"] = new JsonObject { ["texts"] = new JsonArray(name) } } }),
        };
        if (wait > 0) request.Headers.Add("Prefer", $"wait={wait}");
        return request;
    }

    /// <summary>The next event of a stream (name and data), or null when the stream has ended.</summary>
    private static async Task<(string Name, JsonNode Data)?> NextEventAsync(StreamReader reader)
    {
        string? name = null, data = null;
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line["data: ".Length..];
            else if (line.Length == 0 && name is not null) return (name, JsonNode.Parse(data!)!);
        }
        return null;
    }

    [Fact]
    public async Task Status_log_and_result_events_arrive_in_order_and_the_stream_ends_after_the_result()
    {
        var executor = new GatedExecutor();
        var (server, client) = await StartAsync(executor);
        await using var _ = server;
        using var __ = client;
        var id = await NewRunAsync(client);

        // Followed before it is submitted: the stream starts with the step as it is now.
        using var events = await client.GetAsync($"/api/runs/{id}/steps/0/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        var seen = new List<(string Name, JsonNode Data)>();
        seen.Add((await NextEventAsync(reader))!.Value);
        Assert.Equal(("status", "awaiting_input"), (seen[0].Name, seen[0].Data["status"]!.GetValue<string>()));

        await (await client.SendAsync(Submit(id, "Ada"))).Json(HttpStatusCode.Accepted);
        // Pushed while the step runs: queued, running, then the log (it waits for the test to finish).
        while (string.Concat(seen.Where(e => e.Name == "log").Select(e => e.Data["text"]!.GetValue<string>())) != "loading weights\nepoch 1\n")
            seen.Add((await NextEventAsync(reader))!.Value);
        executor.Release.SetResult();
        while (await NextEventAsync(reader) is { } next) seen.Add(next); // the stream ends by itself

        var names = seen.Select(e => e.Name == "log" ? "log" : $"{e.Name}:{e.Data["status"]}").Distinct().ToList();
        Assert.Equal(["status:awaiting_input", "status:queued", "status:running", "log", "result:succeeded"], names);
        Assert.Equal("result", seen[^1].Name);
        Assert.Equal("loading weights\nepoch 1\ndone", seen[^1].Data["logs"]!.GetValue<string>().TrimEnd());
        for (var i = 0; i < 100 && server.Services.GetRequiredService<StepEvents>().Count > 0; i++) await Task.Delay(50);
        Assert.Equal(0, server.Services.GetRequiredService<StepEvents>().Count); // the subscription went with the stream
    }

    [Fact]
    public async Task A_finished_step_answers_its_result_at_once_and_closes()
    {
        var (server, client) = await StartAsync(new TestDoubleStepExecutor());
        await using var _ = server;
        using var __ = client;
        var id = await NewRunAsync(client);
        await (await client.SendAsync(Submit(id, "Ada", wait: 30))).Json(HttpStatusCode.OK);

        var stream = await client.GetStringAsync($"/api/runs/{id}/steps/0/events").WaitAsync(TimeSpan.FromSeconds(10));
        var lines = stream.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("event: result", Assert.Single(lines, l => l.StartsWith("event: ", StringComparison.Ordinal)));
        Assert.Contains("\"status\":\"succeeded\"", stream);
    }

    [Fact]
    public async Task Past_the_cap_an_anonymous_clients_streams_get_429_and_a_closed_stream_frees_its_place()
    {
        var (server, client) = await StartAsync(new TestDoubleStepExecutor(),
            new Dictionary<string, string> { ["FEATHER_MAX_EVENT_STREAMS"] = "2" }, visibility: "public");
        await using var _ = server;
        using var __ = client;
        using var anonymous = server.Client();
        var id = await NewRunAsync(anonymous); // an anonymous run: its step waits for input, so its streams stay open
        var path = $"/api/runs/{id}/steps/0/events";

        var open = new List<HttpResponseMessage>();
        for (var i = 0; i < 2; i++)
        {
            open.Add(await anonymous.GetAsync(path, HttpCompletionOption.ResponseHeadersRead));
            Assert.Equal(HttpStatusCode.OK, open[^1].StatusCode);
        }
        var refused = await (await anonymous.GetAsync(path, HttpCompletionOption.ResponseHeadersRead)).Json(HttpStatusCode.TooManyRequests);
        Assert.Equal("a client may follow at most 2 steps' events at once (FEATHER_MAX_EVENT_STREAMS); close a stream first",
            refused["detail"]!.GetValue<string>());

        // A signed-in user counts on their own.
        using (var mine = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead))
            Assert.Equal(HttpStatusCode.OK, mine.StatusCode);

        open[0].Dispose(); // the client goes away: its place is free once the server notices
        var status = HttpStatusCode.TooManyRequests;
        for (var i = 0; i < 100 && status == HttpStatusCode.TooManyRequests; i++)
        {
            var again = await anonymous.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            status = again.StatusCode;
            if (status == HttpStatusCode.OK) open.Add(again);
            else { again.Dispose(); await Task.Delay(50); }
        }
        Assert.Equal(HttpStatusCode.OK, status);
        foreach (var response in open) response.Dispose();
    }
}

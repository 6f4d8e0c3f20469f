using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>Live logs: what the executor reports while a step runs reaches the step's events and its stored log.</summary>
public class LiveLogTests
{
    /// <summary>TEST DOUBLE of the executor: reports two log lines, waits for the test, reports a third, then succeeds.</summary>
    private sealed class ChattyExecutor : IStepExecutor
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<StepExecutionRequest> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
        {
            if (request.Started is not null) await request.Started();
            Seen.TrySetResult(request);
            request.Log!.Report("loading weights");
            request.Log.Report("epoch 1");
            await Release.Task.WaitAsync(ct);
            request.Log.Report("done");
            var result = JsonDocument.Parse("""{"type":"result","status":"succeeded","outputs":[]}""").RootElement.Clone();
            return new StepExecutionResult(StepOutcome.Succeeded, result, "loading weights\nepoch 1\ndone\n", "succeeded", TimeSpan.FromMilliseconds(5));
        }
    }

    [Fact]
    public async Task Log_lines_are_streamed_as_events_and_stored_while_the_step_runs()
    {
        var executor = new ChattyExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(executor);
        });
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        for (var i = 0; i < 100; i++)
        {
            var v = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
            if (v["image"]!["status"]!.GetValue<string>() == "ready") break;
            await Task.Delay(100);
        }
        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        var submit = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/steps/0")
        {
            Content = JsonContent.Create(new JsonObject { ["responses"] = new JsonObject { ["name"] = new JsonObject { ["texts"] = new JsonArray("Ada") } } }),
        };
        await (await client.SendAsync(submit)).Json(HttpStatusCode.Accepted);
        var request = await executor.Seen.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the step runs in the background
        Assert.Equal("admin", request.User); // the fair queue's key

        using var events = await client.GetAsync($"/api/runs/{id}/steps/0/events", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        // The first two lines arrive while the step is still running.
        var seen = "";
        while (!seen.Contains("epoch 1"))
        {
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotNull(line);
            seen += line + "\n";
        }
        Assert.Contains("event: log", seen);
        Assert.Contains("loading weights", seen);
        Assert.DoesNotContain("event: result", seen);
        var running = await (await client.GetAsync($"/api/runs/{id}/steps/0")).Json(HttpStatusCode.OK);
        Assert.Equal("running", running["status"]!.GetValue<string>());
        Assert.Equal("loading weights\nepoch 1", running["logs"]!.GetValue<string>().TrimEnd()); // stored (LiteDB trims), so polling sees it too

        executor.Release.SetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("event: result", rest);
        var done = await (await client.GetAsync($"/api/runs/{id}/steps/0")).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        Assert.Equal("loading weights\nepoch 1\ndone", done["logs"]!.GetValue<string>().TrimEnd());
    }
}

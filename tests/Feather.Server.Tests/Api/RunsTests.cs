using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

public class RunsTests
{
    private static Action<IServiceCollection> Runner(TestDoubleStepExecutor executor) => s =>
    {
        s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
        s.AddSingleton<IStepExecutor>(executor);
    };

    /// <summary>A server with the test doubles of the runner, and the test model published and built.</summary>
    private sealed class PublishedHello : IAsyncDisposable
    {
        public required FeatherTestServer Server { get; init; }
        public required HttpClient Client { get; init; }
        public required TestDoubleStepExecutor Executor { get; init; }

        public static async Task<PublishedHello> StartAsync()
        {
            var executor = new TestDoubleStepExecutor();
            var server = await FeatherTestServer.StartAsync(services: Runner(executor));
            var client = server.Client(await server.AdminTokenAsync());
            await new TestModel().PublishAsync(client);
            await WaitForImageAsync(client, "admin/hello", 1);
            return new PublishedHello { Server = server, Client = client, Executor = executor };
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
        }
    }

    private static async Task WaitForImageAsync(HttpClient client, string model, int version)
    {
        for (var i = 0; i < 100; i++)
        {
            var v = await (await client.GetAsync($"/api/models/{model}/versions/{version}")).Json(HttpStatusCode.OK);
            if (v["image"]!["status"]!.GetValue<string>() == "ready") return;
            await Task.Delay(100);
        }
        Assert.Fail("the image never became ready");
    }

    private static HttpRequestMessage Step(string runId, int index, JsonObject responses, int? wait = 30)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{runId}/steps/{index}")
        {
            Content = JsonContent.Create(new JsonObject { ["responses"] = responses }),
        };
        if (wait is not null) request.Headers.Add("Prefer", $"wait={wait}");
        return request;
    }

    /// <summary>Selects item <paramref name="index"/> of the "choices" step 0 offered (item 2 is "slow").</summary>
    private static JsonObject Choose(int index) => new() { ["choices"] = new JsonObject { ["selected"] = index } };

    private static JsonObject Name(string text) => new() { ["name"] = new JsonObject { ["texts"] = new JsonArray(text) } };

    [Fact]
    public async Task A_version_whose_image_the_retention_policy_removed_is_built_again_when_it_runs()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);
        var image = (await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK))["image"]!["versionImage"]!.GetValue<string>();

        // what the retention policy records after removing the image from the engine
        server.Services.GetRequiredService<IImageKeepList>()
            .ImageRemoved(image, "its image was removed by the image retention policy");
        var removed = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Equal("removed", removed["image"]!["status"]!.GetValue<string>());

        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        var refused = await (await client.SendAsync(Step(id, 0, Name("Ada")))).Json(HttpStatusCode.Conflict);
        Assert.Contains("is being built again", refused["detail"]!.GetValue<string>());
        Assert.Empty(executor.Requests); // nothing ran on a missing image

        await WaitForImageAsync(client, "admin/hello", 1);
        var step = await (await client.SendAsync(Step(id, 0, Name("Ada")))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", step["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_two_step_run_carries_the_servers_outputs_forward_and_reruns_make_later_steps_stale()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);

        var run = await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created);
        var id = run["id"]!.GetValue<string>();
        Assert.Equal(1, run["version"]!.GetValue<int>());
        Assert.Equal(["awaiting_input", "pending"], run["steps"]!.AsArray().Select(s => s!["status"]!.GetValue<string>()));

        var early = await client.SendAsync(Step(id, 1, Choose(0)));
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);

        var unknown = await (await client.SendAsync(Step(id, 0, new JsonObject { ["nmae"] = "x" }))).Json(HttpStatusCode.BadRequest);
        Assert.Equal(0, unknown["step"]!.GetValue<int>());
        Assert.Equal("nmae", unknown["input"]!.GetValue<string>());

        var step0 = await (await client.SendAsync(Step(id, 0, Name("Ada")))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", step0["status"]!.GetValue<string>());
        Assert.Equal("Ada", step0["outputs"]![0]!["value"]!["responses"]!["name"]!["texts"]![0]!.GetValue<string>());
        Assert.NotNull(step0["startedAt"]);
        Assert.Equal("a log line\n", step0["logs"]!.GetValue<string>());

        var step1 = await (await client.SendAsync(Step(id, 1, Choose(1)))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", step1["status"]!.GetValue<string>());

        // The runtime request of step 1 carried step 0's stored outputs, not anything the client sent.
        var sent = JsonNode.Parse(executor.Requests.Last().RequestJson)!;
        Assert.Equal(2, sent["protocol"]!.GetValue<int>());
        Assert.Equal("model.py", sent["entrypoint"]!.GetValue<string>());
        Assert.Equal(1, sent["step"]!.GetValue<int>());
        Assert.Equal(step0["outputs"]!.ToJsonString(), sent["previous"]!.ToJsonString());
        var labels = executor.Requests.Last().Labels;
        Assert.Equal(id, labels["feather.run"]);
        Assert.Equal("1", labels["feather.step"]);
        Assert.Equal("admin/hello", labels["feather.model"]);
        Assert.StartsWith("test-double-version:", executor.Requests.Last().Image);
        Assert.Equal("low", executor.Requests.Last().Profile);

        // Re-run step 0 with new inputs: step 1 becomes stale.
        await (await client.SendAsync(Step(id, 0, Name("Grace")))).Json(HttpStatusCode.OK);
        var after = await (await client.GetAsync($"/api/runs/{id}")).Json(HttpStatusCode.OK);
        Assert.Equal(["succeeded", "stale"], after["steps"]!.AsArray().Select(s => s!["status"]!.GetValue<string>()));
        await (await client.SendAsync(Step(id, 1, Choose(0)))).Json(HttpStatusCode.OK);
        Assert.Contains("Grace", JsonNode.Parse(executor.Requests.Last().RequestJson)!["previous"]!.ToJsonString());
    }

    [Fact]
    public async Task Failures_are_recorded_with_the_models_error()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);
        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { version = "1" })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        var failed = await (await client.SendAsync(Step(id, 0, Name("boom")))).Json(HttpStatusCode.OK);
        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        Assert.Equal("ValueError", failed["error"]!["type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Conflict, (await client.SendAsync(Step(id, 1, new JsonObject()))).StatusCode);

        var invalid = await (await client.SendAsync(Step(id, 0, Name("bad")))).Json(HttpStatusCode.OK);
        Assert.Equal("invalid_input", invalid["status"]!.GetValue<string>());
        Assert.Equal("name", invalid["error"]!["input"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_a_wait_the_step_answers_202_and_can_be_polled()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);
        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        var accepted = await (await client.SendAsync(Step(id, 0, Name("slow"), wait: null))).Json(HttpStatusCode.Accepted);
        Assert.Contains(accepted["status"]!.GetValue<string>(), new[] { "queued", "running" });
        Assert.Equal(HttpStatusCode.Conflict, (await client.SendAsync(Step(id, 0, Name("again")))).StatusCode);

        executor.Release.SetResult();
        for (var i = 0; i < 50; i++)
        {
            var polled = await (await client.GetAsync($"/api/runs/{id}/steps/0")).Json(HttpStatusCode.OK);
            if (polled["status"]!.GetValue<string>() == "succeeded") return;
            await Task.Delay(100);
        }
        Assert.Fail("the step never finished");
    }

    [Fact]
    public async Task Without_a_wait_the_answer_is_202_with_the_step_queued_however_fast_the_step_finishes()
    {
        await using var hello = await PublishedHello.StartAsync();
        var client = hello.Client;
        // The test double finishes at once: before, the answer raced between 200 (finished) and 202.
        for (var i = 0; i < 10; i++)
        {
            var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
            var step = await (await client.SendAsync(Step(id, 0, Name("Ada"), wait: null))).Json(HttpStatusCode.Accepted);
            Assert.Equal("queued", step["status"]!.GetValue<string>());

            var execute = new HttpRequestMessage(HttpMethod.Post, "/api/models/admin/hello/execute")
            {
                Content = JsonContent.Create(new JsonObject { ["responses"] = Name("Ada") }),
            };
            execute.Headers.Add("Prefer", "wait=0");
            var executed = await (await client.SendAsync(execute)).Json(HttpStatusCode.Accepted);
            Assert.Equal("queued", executed["step"]!["status"]!.GetValue<string>());
        }
    }

    /// <summary>TEST DOUBLE of the runner's admission: the real <see cref="FairStepQueue"/> in front of the test executor.</summary>
    private sealed class QueuedExecutor(FairStepQueue queue, TestDoubleStepExecutor inner) : IStepExecutor
    {
        public StepRefusal? Refusal => queue.IsFull ? new StepRefusal("the step queue is full (test)", TimeSpan.FromSeconds(7)) : null;

        public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
        {
            using var slot = await queue.EnterAsync(request.User, ct);
            return await inner.ExecuteAsync(request, ct);
        }
    }

    [Fact]
    public async Task A_step_past_the_queue_bound_is_refused_with_503_and_retry_after()
    {
        var inner = new TestDoubleStepExecutor();
        var queue = new FairStepQueue(1, maxQueued: 1);
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(new QueuedExecutor(queue, inner));
        });
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        await WaitForImageAsync(client, "admin/hello", 1);
        async Task<string> NewRun() =>
            (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        await (await client.SendAsync(Step(await NewRun(), 0, Name("slow"), wait: null))).Json(HttpStatusCode.Accepted); // runs
        await (await client.SendAsync(Step(await NewRun(), 0, Name("slow"), wait: null))).Json(HttpStatusCode.Accepted); // waits
        for (var i = 0; i < 100 && queue.QueueLength < 1; i++) await Task.Delay(50);
        Assert.Equal(1, queue.QueueLength);

        var third = await NewRun();
        var refused = await client.SendAsync(Step(third, 0, Name("Ada"), wait: null));
        var problem = await refused.Json(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("the step queue is full (test)", problem["detail"]!.GetValue<string>());
        Assert.Equal("7", refused.Headers.GetValues("Retry-After").Single());
        var run = await (await client.GetAsync($"/api/runs/{third}")).Json(HttpStatusCode.OK);
        Assert.Equal("awaiting_input", run["steps"]![0]!["status"]!.GetValue<string>()); // refused: nothing changed

        inner.Release.SetResult();
        for (var i = 0; i < 100 && (queue.QueueLength > 0 || queue.Running > 0); i++) await Task.Delay(50);
        var done = await (await client.SendAsync(Step(third, 0, Name("Ada")))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Runs_survive_a_restart_and_interrupted_steps_say_so()
    {
        var data = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            string id;
            await using (var first = await FeatherTestServer.StartAsync(services: Runner(new TestDoubleStepExecutor()), dataDirectory: data))
            {
                using var client = first.Client(await first.AdminTokenAsync());
                await new TestModel().PublishAsync(client);
                await WaitForImageAsync(client, "admin/hello", 1);
                id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
                await (await client.SendAsync(Step(id, 0, Name("Ada")))).Json(HttpStatusCode.OK);
                await (await client.SendAsync(Step(id, 1, Choose(2), wait: null))).Json(HttpStatusCode.Accepted);
                await first.StopAsync();
            }
            await using var second = await FeatherTestServer.StartAsync(services: Runner(new TestDoubleStepExecutor()), dataDirectory: data);
            using var again = second.Client(await second.AdminTokenAsync());
            var run = await (await again.GetAsync($"/api/runs/{id}")).Json(HttpStatusCode.OK);
            Assert.Equal("succeeded", run["steps"]![0]!["status"]!.GetValue<string>());
            Assert.Equal("Ada", run["steps"]![0]!["outputs"]![0]!["value"]!["responses"]!["name"]!["texts"]![0]!.GetValue<string>());
            var interrupted = run["steps"]![1]!;
            Assert.Contains(interrupted["status"]!.GetValue<string>(), new[] { "failed", "cancelled" });
            // Resume: submit the step again.
            var resumed = await (await again.SendAsync(Step(id, 1, Choose(0)))).Json(HttpStatusCode.OK);
            Assert.Equal("succeeded", resumed["status"]!.GetValue<string>());
        }
        finally
        {
            await FeatherTestServer.DeleteDataDirectoryAsync(data);
        }
    }

    [Fact]
    public async Task Runs_of_other_users_are_not_visible_and_anonymous_visitors_can_run_public_models()
    {
        var executor = new TestDoubleStepExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: Runner(executor));
        using var owner = server.Client(await server.UserTokenAsync("ursula"));
        using var other = server.Client(await server.UserTokenAsync("victor"));
        using var anonymous = server.Client();
        await new TestModel().PublishAsync(owner, visibility: "public");
        await WaitForImageAsync(owner, "ursula/hello", 1);

        var mine = (await (await owner.PostAsJsonAsync("/api/models/ursula/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/runs/{mine}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.SendAsync(Step(mine, 0, Name("x")))).StatusCode);

        var anon = (await (await anonymous.PostAsJsonAsync("/api/models/ursula/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        var done = await (await anonymous.SendAsync(Step(anon, 0, Name("guest")))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_a_runner_a_step_is_refused_with_a_clear_error()
    {
        // a host built without the Docker runner (Program.BuildApp lets a host replace it)
        await using var server = await FeatherTestServer.StartAsync(services: s => s.RemoveAll<Feather.Server.Sandbox.IStepExecutor>());
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        var problem = await (await client.SendAsync(Step(id, 0, Name("x")))).Json(HttpStatusCode.ServiceUnavailable);
        Assert.Contains("no step executor", problem["detail"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { version = "7" })).StatusCode);
    }

    [Fact]
    public async Task A_running_step_can_be_cancelled_and_followed_as_server_sent_events()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);
        var id = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();

        await (await client.SendAsync(Step(id, 0, Name("slow"), wait: null))).Json(HttpStatusCode.Accepted);
        using var events = await client.GetAsync($"/api/runs/{id}/steps/0/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType!.MediaType);
        var reading = events.Content.ReadAsStringAsync();

        var cancelled = await (await client.DeleteAsync($"/api/runs/{id}/steps/0")).Json(HttpStatusCode.OK);
        Assert.Equal("cancelled", cancelled["status"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Conflict, (await client.DeleteAsync($"/api/runs/{id}/steps/0")).StatusCode);

        var stream = await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("event: status", stream);
        Assert.Contains("event: result", stream);
        Assert.Contains("\"status\":\"cancelled\"", stream);

        // The run goes on: the step can be submitted again.
        var again = await (await client.SendAsync(Step(id, 0, Name("Ada")))).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", again["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_stateless_execute_call_runs_the_first_step_through_a_run()
    {
        await using var hello = await PublishedHello.StartAsync();
        var (server, client, executor) = (hello.Server, hello.Client, hello.Executor);

        var request = new HttpRequestMessage(HttpMethod.Post, "/api/models/admin/hello/execute")
        {
            Content = JsonContent.Create(new JsonObject { ["responses"] = Name("Ada"), ["version"] = "1" }),
        };
        request.Headers.Add("Prefer", "wait=30");
        var answer = await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
        Assert.Equal("succeeded", answer["step"]!["status"]!.GetValue<string>());
        var run = await (await client.GetAsync($"/api/runs/{answer["runId"]}")).Json(HttpStatusCode.OK);
        Assert.Equal("awaiting_input", run["steps"]![1]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_profile_the_runner_refuses_is_refused_at_publish_and_the_callers_runs_are_listed()
    {
        var executor = new TestDoubleStepExecutor();
        await using var server = await FeatherTestServer.StartAsync(services: s =>
        {
            Runner(executor)(s);
            s.AddSingleton<Feather.Server.Publishing.IProfilePolicy, NoGpuProfilePolicy>();
        });
        using var client = server.Client(await server.AdminTokenAsync());
        var gpu = new TestModel { Customize = m => m["profile"] = "high" };
        var refused = await (await client.PostAsJsonAsync("/api/publish", gpu.StartBody())).Json(HttpStatusCode.BadRequest);
        Assert.Contains("no GPU runtime", refused["errors"]!["metadata/profile"]![0]!.GetValue<string>());

        await new TestModel().PublishAsync(client);
        var first = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        await Task.Delay(20); // distinct creation times, so "newest first" has one answer
        var second = (await (await client.PostAsJsonAsync("/api/models/admin/hello/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
        var mine = await (await client.GetAsync("/api/runs")).Json(HttpStatusCode.OK);
        Assert.Equal([second, first], mine.AsArray().Select(r => r!["id"]!.GetValue<string>()));
        using var other = server.Client(await server.UserTokenAsync("wanda"));
        Assert.Empty((await (await other.GetAsync("/api/runs")).Json(HttpStatusCode.OK)).AsArray());
    }
}

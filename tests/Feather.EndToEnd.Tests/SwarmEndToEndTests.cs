using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Tests.Swarm;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// Runs alone (DisableParallelization): joining and leaving the swarm makes the engine rework its networks
/// ("Failed to remove swarm network ... on cluster leave"), which cut the compose stack's published port while
/// ComposeTests ran at the same moment.
/// </summary>
[CollectionDefinition("swarm-e2e", DisableParallelization = true)]
public sealed class SwarmEndToEndCollection : ICollectionFixture<SwarmServer>;

/// <summary>
/// bin/feather-server with Runner:Mode=swarm on a one-node swarm of this machine's engine and a lab registry
/// (Debian's docker-registry, with credentials): hello and VQG published with bin/feather and run end to end as swarm
/// jobs, tests/models/hostile's attacks contained as in local mode (<see cref="HostileModelTests"/>), cancel and
/// timeout; after every test no service, secret, network or container of the server is left.
/// </summary>
[Collection("swarm-e2e")]
public sealed class SwarmEndToEndTests(SwarmServer server) : IAsyncLifetime
{
    private static readonly string[] Attacks = ["tcp", "fork", "memory", "loop", "print", "stdout", "write", "fill-tmp", "environ"];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => Assert.Empty(await SwarmLab.LeftoversAfterAsync(server.Server.InstanceId));

    [Fact]
    public async Task Hello_runs_as_a_swarm_job_from_the_registry()
    {
        var run = await server.Server.Cli("run", "admin/hello", "--inputs", "samples/hello/example-inputs.json", "--json");
        Assert.True(run.ExitCode == 0, run + server.Server.ServerLog);
        var greeting = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps")[0].GetProperty("outputs")[0];
        Assert.Equal("Hello, Ada!", greeting.GetProperty("value").GetProperty("texts")[0].GetString());
        // the step ran from the registry, by digest (the server's JSON log line of the started step)
        Assert.Contains($"\"Image\":\"{server.Lab.Registry}/feather/feather-version@sha256:", server.Server.ServerLog);
    }

    [Fact]
    public async Task Vqg_gives_the_same_outputs_as_a_swarm_job_as_locally()
    {
        var local = await CommandResult.RunAsync("/usr/bin/python3",
            ["-m", "feather", "run", "samples/vqg", "--inputs", "samples/vqg/example-inputs.json", "--json"],
            server.Server.RepoRoot, null, new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(server.Server.RepoRoot, "python-sdk") });
        Assert.True(local.ExitCode == 0, local.ToString());
        var remote = await server.Server.Cli("run", "admin/vqg", "--inputs", "samples/vqg/example-inputs.json", "--json");
        Assert.True(remote.ExitCode == 0, remote + server.Server.ServerLog);
        var localQuestions = FinalTexts(JsonDocument.Parse(local.Stdout).RootElement.GetProperty("steps"));
        var remoteQuestions = FinalTexts(JsonDocument.Parse(remote.Stdout).RootElement.GetProperty("steps"));
        Assert.NotEmpty(remoteQuestions);
        Assert.Equal(localQuestions, remoteQuestions);
    }

    private static string[] FinalTexts(JsonElement steps) =>
        steps.EnumerateArray().Last().GetProperty("outputs").EnumerateArray().First(x => x.GetProperty("component").GetString() == "Image.View")
            .GetProperty("value").GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();

    [Theory]
    [InlineData("tcp", "failed", "ConnectionError: no connection")]
    [InlineData("fork", "failed", "Resource temporarily unavailable")]
    [InlineData("memory", "failed", "killed: out of memory (limit 512 MiB)")]
    [InlineData("loop", "timed_out", "timed out after 15 s")]
    [InlineData("print", "succeeded", "[log truncated:")]
    [InlineData("stdout", "failed", "killed: output exceeded the cap of 16 MiB")]
    [InlineData("write", "failed", "could not write outside /tmp")]
    [InlineData("fill-tmp", "failed", "No space left on device")]
    [InlineData("environ", "succeeded", "env PATH=")]
    public async Task A_hostile_model_is_contained_as_in_local_mode(string attack, string status, string expected)
    {
        var port = new Uri(server.Server.Url).Port;
        // the server on loopback and on the default bridge's and the swarm's docker_gwbridge's gateways, the swarm's
        // manager port, and a public address: none is reachable from the step's internal overlay
        var step = await server.RunStepAsync(attack, $"127.0.0.1:{port} 172.17.0.1:{port} 172.18.0.1:{port} 127.0.0.1:2377 1.1.1.1:80");
        var text = step.ToJsonString();
        Assert.True(step["status"]!.GetValue<string>() == status, $"expected {status}: {text[..Math.Min(3000, text.Length)]}");
        Assert.Contains(expected, text);
        if (attack == "environ")
        {
            Assert.DoesNotContain(server.Server.AdminPassword, text);
            Assert.DoesNotContain(server.Lab.Password, text);
            Assert.DoesNotContain(server.Server.DataDir, text);
            Assert.DoesNotContain("FEATHER_ADMIN_PASSWORD", text);
        }
    }

    [Fact]
    public async Task A_running_step_is_cancelled_and_its_job_removed()
    {
        var (id, _) = await server.SubmitAsync("loop", "");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while ((await server.Api(HttpMethod.Get, $"/api/runs/{id}/steps/0", null))["status"]!.GetValue<string>() != "running")
        {
            Assert.True(DateTime.UtcNow < deadline, "the step did not start");
            await Task.Delay(200);
        }
        Assert.Contains(await SwarmLab.LeftoversAsync(server.Server.InstanceId), l => l.StartsWith("service ", StringComparison.Ordinal));
        using (var request = new HttpRequestMessage(HttpMethod.Delete, $"{server.Server.Url}/api/runs/{id}/steps/0"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
            using var response = await server.Server.Http.SendAsync(request);
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        var step = await server.WaitAsync(id);
        Assert.Equal("cancelled", step["status"]!.GetValue<string>());
    }
}

/// <summary>
/// The swarm lab and bin/feather-server in swarm mode (one step at a time: Runner:MaxConcurrentSteps=1, for the fair
/// queue's test) on the runner image of this checkout's SDK, with hello (public), vqg, tests/models/hostile and
/// tests/models/files published.
/// </summary>
public sealed class SwarmServer : IAsyncLifetime
{
    public SwarmLab Lab { get; private set; } = null!;
    public FeatherServer Server { get; private set; } = null!;
    public string Token { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Lab = await SwarmLab.StartAsync();
        try
        {
            // the runner image of this checkout's SDK (the runtime's evaluate mode), by its content tag
            var runner = await FeatherServer.RunnerImageOfThisCheckoutAsync();
            Server = new FeatherServer(new Dictionary<string, string>
            {
                ["Runner__BaseImage"] = runner,
                ["Runner__MaxConcurrentSteps"] = "1",
                ["Runner__Mode"] = "swarm",
                ["Runner__Swarm__Registry"] = Lab.Registry + "/feather",
                ["Runner__Swarm__RegistryUsername"] = SwarmLab.User,
                ["Runner__Swarm__RegistryPassword"] = Lab.Password,
                ["Runner__Profiles__Low__TimeoutSeconds"] = "15",
                ["Runner__Profiles__Low__Cpus"] = "0.5",
            });
            await Server.InitializeAsync();
            foreach (var (model, visibility) in new[] { ("samples/hello", "public"), ("samples/vqg", "private"), ("tests/models/hostile", "private"), ("tests/models/files", "private") })
            {
                var publish = await Server.Cli("publish", model, "--wait", "--visibility", visibility);
                if (publish.ExitCode != 0) throw new InvalidOperationException($"publishing {model} failed: {publish}\n{Server.ServerLog}");
            }
            var token = await Server.Http.PostAsJsonAsync($"{Server.Url}/api/auth/tokens",
                new { username = "admin", password = Server.AdminPassword, name = "swarm-tests", scopes = new[] { "read", "run", "admin" } });
            Token = JsonNode.Parse(await token.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task<JsonNode> Api(HttpMethod method, string path, JsonNode? body, HttpStatusCode? expected = null, string? token = null)
    {
        using var request = new HttpRequestMessage(method, Server.Url + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Token);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await Server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected is null ? response.IsSuccessStatusCode : response.StatusCode == expected, $"{method} {path}: {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    /// <summary>A new user's token (read, run).</summary>
    public async Task<string> NewUserTokenAsync(string user)
    {
        var password = Guid.NewGuid().ToString("n");
        await Api(HttpMethod.Post, "/api/users", new JsonObject { ["username"] = user, ["password"] = password });
        using var response = await Server.Http.PostAsJsonAsync($"{Server.Url}/api/auth/tokens",
            new { username = user, password, name = "swarm-tests", scopes = new[] { "read", "run" } });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token for {user}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!["token"]!.GetValue<string>();
    }

    public async Task<(string Run, JsonNode Submitted)> SubmitAsync(string attack, string targets)
    {
        var run = await Api(HttpMethod.Post, "/api/models/admin/hostile/runs", new JsonObject(), HttpStatusCode.Created);
        var id = run["id"]!.GetValue<string>();
        var responses = new JsonObject
        {
            ["attack"] = new JsonObject { ["selected"] = Array.IndexOf(["tcp", "fork", "memory", "loop", "print", "stdout", "write", "fill-tmp", "environ"], attack) },
            ["targets"] = new JsonObject { ["texts"] = new JsonArray(targets) },
        };
        return (id, await Api(HttpMethod.Post, $"/api/runs/{id}/steps/0", new JsonObject { ["responses"] = responses }));
    }

    public async Task<JsonNode> WaitAsync(string run)
    {
        var deadline = DateTime.UtcNow.AddMinutes(4);
        while (true)
        {
            var step = await Api(HttpMethod.Get, $"/api/runs/{run}/steps/0", null);
            if (step["status"]!.GetValue<string>() is "succeeded" or "failed" or "timed_out" or "cancelled" or "invalid_input") return step;
            Assert.True(DateTime.UtcNow < deadline, $"the step did not finish: {step.ToJsonString()}");
            await Task.Delay(250);
        }
    }

    public async Task<JsonNode> RunStepAsync(string attack, string targets) => await WaitAsync((await SubmitAsync(attack, targets)).Run);

    public async Task DisposeAsync()
    {
        try
        {
            var owner = InstanceIdOrEmpty();
            if (Server is not null) await Server.DisposeAsync();
            await SwarmLab.RemoveOwnedAsync(owner);
        }
        finally
        {
            if (Lab is not null) await Lab.DisposeAsync();
        }
    }

    private string InstanceIdOrEmpty()
    {
        try
        {
            return Server?.InstanceId ?? "none";
        }
        catch (IOException)
        {
            return "none";
        }
    }
}

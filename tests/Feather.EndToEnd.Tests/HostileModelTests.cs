using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

[CollectionDefinition("hostile")]
public sealed class HostileCollection : ICollectionFixture<HostileServer>;

[CollectionDefinition("hostile-prepared")]
public sealed class PreparedHostileCollection : ICollectionFixture<PreparedHostileServer>;

/// <summary>The attacks on a server that starts a fresh container for each step (Runner:PrepareContainers=false).</summary>
[Collection("hostile")]
public sealed class HostileModelTests(HostileServer server) : HostileModelTestsBase(server);

/// <summary>
/// The same attacks on a server with prepared containers (Runner:PrepareContainers=true): each attack runs in a
/// container started and prepared ahead of its request (checked in the server's log), with the same sandbox.
/// </summary>
[Collection("hostile-prepared")]
public sealed class PreparedHostileModelTests(PreparedHostileServer server) : HostileModelTestsBase(server);

/// <summary>
/// tests/models/hostile attacks its sandbox through the full HTTP path (bin/feather-server, the
/// real Docker engine), one attack per test. Each attack ends with a clear status and message,
/// the server stays healthy and serves a hello run meanwhile, and no container is left behind.
/// </summary>
public abstract class HostileModelTestsBase(HostileServer server)
{
    private static readonly string[] Attacks = ["tcp", "fork", "memory", "loop", "print", "stdout", "write", "fill-tmp", "environ", "remember"];

    /// <summary>Starts the attack, runs hello meanwhile, and returns the attack's finished step.</summary>
    private async Task<JsonNode> AttackAsync(string attack, string targets = "", string? token = null)
    {
        // With prepared containers: wait until one is ready for the hostile model, so the attack runs in it.
        var preparedBefore = server.Prepare ? await server.WaitForPreparedAsync() : 0;
        var run = await server.Api(HttpMethod.Post, "/api/models/admin/hostile/runs", new JsonObject(), HttpStatusCode.Created, token: token);
        var id = run["id"]!.GetValue<string>();
        var responses = new JsonObject
        {
            ["attack"] = new JsonObject { ["selected"] = Array.IndexOf(Attacks, attack) },
            ["targets"] = new JsonObject { ["texts"] = new JsonArray(targets) },
        };
        var submitted = await server.Api(HttpMethod.Post, $"/api/runs/{id}/steps/0", new JsonObject { ["responses"] = responses }, token: token);
        Assert.Contains(submitted["status"]!.GetValue<string>(), new[] { "queued", "running" });

        // Meanwhile the server is healthy and runs other models.
        var hello = await server.Api(HttpMethod.Post, "/api/models/admin/hello/runs", new JsonObject(), HttpStatusCode.Created);
        var greeted = await server.Api(HttpMethod.Post, $"/api/runs/{hello["id"]}/steps/0",
            new JsonObject { ["responses"] = new JsonObject { ["name"] = new JsonObject { ["texts"] = new JsonArray($"{attack} victim") } } },
            HttpStatusCode.OK, wait: 120);
        Assert.Equal("succeeded", greeted["status"]!.GetValue<string>());
        Assert.Equal($"Hello, {attack} victim!", greeted["outputs"]![0]!["value"]!["texts"]![0]!.GetValue<string>());
        using (var health = await server.Http.GetAsync($"{server.Url}/healthz"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        var deadline = DateTime.UtcNow.AddMinutes(3);
        JsonNode step;
        while (true)
        {
            step = await server.Api(HttpMethod.Get, $"/api/runs/{id}/steps/0", null, HttpStatusCode.OK, token: token);
            if (step["status"]!.GetValue<string>() is "succeeded" or "failed" or "timed_out" or "cancelled" or "invalid_input") break;
            Assert.True(DateTime.UtcNow < deadline, $"the {attack} step did not finish: {step.ToJsonString()[..Math.Min(2000, step.ToJsonString().Length)]}");
            await Task.Delay(250);
        }

        using (var health = await server.Http.GetAsync($"{server.Url}/healthz"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Empty(await FeatherServer.StepContainersAsync(server.InstanceId));
        if (server.Prepare) // the attack took a prepared container (the server logs each start from the pool)
            Assert.True(server.PreparedStarts() > preparedBefore, $"the {attack} step did not run in a prepared container:\n{server.ServerLog[^Math.Min(4000, server.ServerLog.Length)..]}");
        return step;
    }

    /// <summary>The step's status, checked against <paramref name="expected"/> with the whole step in the failure message.</summary>
    private static void Expect(JsonNode step, string expected)
    {
        var text = step.ToJsonString();
        Assert.True(step["status"]!.GetValue<string>() == expected, $"expected {expected}: {text[..Math.Min(3000, text.Length)]}");
    }

    private static string Message(JsonNode step) => step["message"]?.GetValue<string>() ?? "";
    private static string ErrorMessage(JsonNode step) => step["error"]?["message"]?.GetValue<string>() ?? "";
    private static string Report(JsonNode step) =>
        string.Join("\n", step["outputs"]![0]!["value"]!["texts"]!.AsArray().Select(t => t!.GetValue<string>()));

    [Fact]
    public async Task A_forged_selection_is_refused_by_the_server_before_any_container_starts()
    {
        var run = await server.Api(HttpMethod.Post, "/api/models/admin/hostile/runs", new JsonObject(), HttpStatusCode.Created);
        var id = run["id"]!.GetValue<string>();
        var responses = new JsonObject
        {
            ["attack"] = new JsonObject { ["selected"] = 99 },
            ["targets"] = new JsonObject { ["texts"] = new JsonArray(new string('x', 1001)) },
        };
        var problem = await server.Api(HttpMethod.Post, $"/api/runs/{id}/steps/0", new JsonObject { ["responses"] = responses },
            HttpStatusCode.BadRequest, wait: 30);
        Assert.Equal(0, problem["step"]!.GetValue<int>());
        Assert.Equal("attack", problem["input"]!.GetValue<string>());
        Assert.Equal("selected: 99 should be at most 9", problem["errors"]!["steps/0/attack"]![0]!.GetValue<string>());
        Assert.Equal("texts[0]: Value should be at most 1000 characters", problem["errors"]!["steps/0/targets"]![0]!.GetValue<string>());
        var state = await server.Api(HttpMethod.Get, $"/api/runs/{id}", null, HttpStatusCode.OK);
        Assert.Equal("awaiting_input", state["steps"]![0]!["status"]!.GetValue<string>());
        Assert.Null(state["steps"]![0]!["startedAt"]?.GetValue<string>());
    }

    [Fact]
    public async Task Tcp_to_the_servers_port_on_loopback_and_to_a_container_on_a_test_network_is_blocked()
    {
        // A listener this test creates; a plain container on its network reaches it, the step does not.
        var network = "feather-hostile-" + Guid.NewGuid().ToString("N")[..8];
        var listener = network + "-listener";
        Assert.Equal(0, (await FeatherServer.Docker("network", "create", "--label", "org.feather.test=hostile", network)).ExitCode);
        try
        {
            var started = await FeatherServer.Docker("run", "-d", "--name", listener, "--network", network,
                "--label", "org.feather.test=hostile", "feather-base:bookworm", "python3", "-m", "http.server", "8000");
            Assert.True(started.ExitCode == 0, started.ToString());
            var ip = (await FeatherServer.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", listener)).Stdout.Trim();
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+$", ip);
            var control = await FeatherServer.Docker("run", "--rm", "--network", network, "--label", "org.feather.test=hostile",
                "feather-base:bookworm", "python3", "-c",
                $"import socket,time\nfor i in range(50):\n  try: socket.create_connection(('{ip}', 8000), timeout=3); print('connected'); break\n  except OSError: time.sleep(0.2)");
            Assert.Contains("connected", control.Stdout);

            var port = new Uri(server.Url).Port;
            var step = await AttackAsync("tcp", $"127.0.0.1:{port} {ip}:8000");
            Expect(step, "failed");
            Assert.Equal("ConnectionError", step["error"]!["type"]!.GetValue<string>());
            Assert.Contains($"127.0.0.1:{port}: ", ErrorMessage(step));
            Assert.Contains($"{ip}:8000: ", ErrorMessage(step));
            Assert.StartsWith("ConnectionError: no connection", Message(step));
        }
        finally
        {
            await FeatherServer.Docker("rm", "-f", listener);
            await FeatherServer.Docker("network", "rm", network);
        }
    }

    [Fact]
    public async Task A_fork_bomb_hits_the_pids_limit()
    {
        var step = await AttackAsync("fork");
        Expect(step, "failed");
        var message = ErrorMessage(step);
        Assert.Contains("Resource temporarily unavailable", message);
        var children = int.Parse(message.Split("after ")[1].Split(' ')[0]);
        Assert.InRange(children, 1, 127); // the low profile's pids limit is 128
    }

    [Fact]
    public async Task Allocating_far_beyond_the_memory_limit_is_killed_as_out_of_memory()
    {
        var step = await AttackAsync("memory");
        Expect(step, "failed");
        Assert.Equal("killed: out of memory (limit 512 MiB)", Message(step));
        Assert.Equal("out_of_memory", step["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_step_that_loops_forever_times_out()
    {
        var clock = Stopwatch.StartNew();
        var step = await AttackAsync("loop");
        Expect(step, "timed_out");
        Assert.Equal($"timed out after {HostileServer.TimeoutSeconds} s", Message(step));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(HostileServer.TimeoutSeconds + 60), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Printing_64_times_the_log_cap_keeps_only_the_capped_log()
    {
        var step = await AttackAsync("print");
        Expect(step, "succeeded");
        Assert.StartsWith("printed 64 MiB", Report(step));
        var logs = step["logs"]!.GetValue<string>();
        Assert.InRange(logs.Length, 1, 2 * 1024 * 1024);
        Assert.Matches(@"\[log truncated: \d+ bytes beyond the 1 MiB cap dropped\]", logs);
    }

    [Fact]
    public async Task Flooding_the_runtimes_own_stdout_is_killed_at_the_output_cap()
    {
        var step = await AttackAsync("stdout");
        Expect(step, "failed");
        Assert.Equal("killed: output exceeded the cap of 16 MiB", Message(step));
    }

    [Fact]
    public async Task Writing_outside_tmp_fails_on_a_read_only_root()
    {
        var step = await AttackAsync("write");
        Expect(step, "failed");
        Assert.Equal("PermissionError", step["error"]!["type"]!.GetValue<string>());
        var message = ErrorMessage(step);
        Assert.StartsWith("could not write outside /tmp", message);
        foreach (var path in new[] { "/model/hostile.txt", "/etc/hostile.txt", "/hostile.txt", "/usr/lib/hostile.txt", "/opt/feather/hostile.txt", "/var/tmp/hostile.txt" })
            Assert.Matches($"{path}: (Read-only file system|Permission denied)", message);
    }

    [Fact]
    public async Task Filling_tmp_stops_at_the_tmpfs_size()
    {
        var step = await AttackAsync("fill-tmp");
        Expect(step, "failed");
        var message = ErrorMessage(step);
        Assert.Contains("No space left on device", message);
        var written = int.Parse(message.Split("after ")[1].Split(' ')[0]);
        Assert.InRange(written, 0, 64); // the low profile's tmpfs is 64 MiB
    }

    [Fact]
    public async Task The_step_sees_neither_the_servers_environment_nor_its_data_directory()
    {
        var step = await AttackAsync("environ");
        Expect(step, "succeeded");
        var report = Report(step);
        Assert.Contains("env PATH=", report); // the attack did read its own environment
        Assert.Contains("/proc/self/mountinfo: ", report);
        Assert.DoesNotContain(server.AdminPassword, report);
        Assert.DoesNotContain("FEATHER_ADMIN_PASSWORD", report);
        Assert.DoesNotContain("FEATHER_DATA", report);
        Assert.DoesNotContain(server.DataDir, report);
        Assert.DoesNotContain(server.Token, report);
        Assert.DoesNotContain("found ", report);
    }

    [Fact]
    public async Task A_step_never_sees_what_an_earlier_step_of_another_user_left_in_its_process_prepared_state_or_tmp()
    {
        var first = await AttackAsync("remember", "admins-secret-" + Guid.NewGuid().ToString("N")[..8]);
        Expect(first, "succeeded");
        var second = await AttackAsync("remember", "bobs-secret", token: server.OtherToken);
        Expect(second, "succeeded");
        Assert.StartsWith("remembered nothing before bobs-secret", Report(second));
        Assert.DoesNotContain("admins-secret", second.ToJsonString());
        Assert.DoesNotContain("BREACH", Report(first));
    }
}

/// <summary>
/// bin/feather-server with a short step timeout for the low profile and no warm containers (so
/// every container of the server is a step's), with tests/models/hostile and samples/hello
/// published, and an API token.
/// </summary>
public class HostileServer : IAsyncLifetime
{
    public const int TimeoutSeconds = 15;

    public HostileServer() : this(prepare: false) { }

    protected HostileServer(bool prepare)
    {
        Prepare = prepare;
        Server = new(new Dictionary<string, string>
        {
            ["Runner__Profiles__Low__TimeoutSeconds"] = TimeoutSeconds.ToString(),
            ["Runner__PrepareContainers"] = prepare ? "true" : "false",
            ["Runner__WarmContainers"] = prepare ? "1" : "0",
        });
    }

    /// <summary>Steps take containers prepared ahead of them.</summary>
    public bool Prepare { get; }

    public FeatherServer Server { get; }

    /// <summary>A second user (bob), who may run the public hostile model: an attack of one user must not reach the other's.</summary>
    public string OtherToken { get; private set; } = "";

    public string ServerLog => Server.ServerLog;

    /// <summary>Steps the server started in a prepared container taken from its pool (its log line "Step container feather-warm-...").</summary>
    public int PreparedStarts() =>
        Server.LogEvents("Step container").Count(e => e.GetProperty("Warm").GetBoolean()
            && e.GetProperty("Name").GetString()!.StartsWith("feather-warm-", StringComparison.Ordinal) && e.GetProperty("Image").GetString() == HostileImage);

    /// <summary>
    /// Waits until the pool holds a prepared container for the hostile model and none is still preparing (so the next
    /// step takes a prepared one); returns <see cref="PreparedStarts"/> before the step.
    /// </summary>
    public async Task<int> WaitForPreparedAsync()
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            using var metrics = await Http.GetAsync($"{Url}/metrics");
            var text = await metrics.Content.ReadAsStringAsync();
            var ps = await FeatherServer.Docker("ps", "--format", "{{.Image}}", "--filter", "label=org.feather.warm=prepared",
                "--filter", $"label=org.feather.owner={InstanceId}", "--filter", "status=running");
            var hostileReady = ps.Stdout.Split('\n').Count(i => i.Trim() == HostileImage);
            if (hostileReady > 0 && Gauge(text, "preparing") == 0) return PreparedStarts();
            Assert.True(DateTime.UtcNow < deadline, $"no prepared container of {HostileImage} within 2 minutes: {ps.Stdout}\n{text}");
            await Task.Delay(250);
        }
    }

    private static double Gauge(string metrics, string state) =>
        metrics.Split('\n').Where(l => l.StartsWith($"feather_prepared_containers{{state=\"{state}\"}}", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Single();

    /// <summary>The version image of tests/models/hostile.</summary>
    public string HostileImage { get; private set; } = "";

    public string Url => Server.Url;
    public string DataDir => Server.DataDir;
    public string InstanceId => Server.InstanceId;
    public string AdminPassword => Server.AdminPassword;
    public HttpClient Http => Server.Http;
    public string Token { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Server.InitializeAsync();
        foreach (var model in new[] { "tests/models/hostile", "samples/hello" })
        {
            var publish = await Server.Cli("publish", model, "--wait");
            if (publish.ExitCode != 0) throw new InvalidOperationException($"publishing {model} failed: {publish}\n{Server.ServerLog}");
        }
        var token = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
            new { username = "admin", password = Server.AdminPassword, name = "hostile-tests", scopes = new[] { "read", "run" } });
        Token = JsonNode.Parse(await token.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();

        // bob, a second user, may run the hostile model (made public for him)
        var adminToken = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
            new { username = "admin", password = Server.AdminPassword, name = "hostile-admin", scopes = new[] { "read", "publish", "admin" } });
        var admin = JsonNode.Parse(await adminToken.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();
        var bobPassword = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        await Api(HttpMethod.Post, "/api/users", new JsonObject { ["username"] = "bob", ["password"] = bobPassword }, HttpStatusCode.Created, token: admin);
        await Api(HttpMethod.Patch, "/api/models/admin/hostile", new JsonObject { ["visibility"] = "public" }, token: admin);
        var bob = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
            new { username = "bob", password = bobPassword, name = "hostile-tests", scopes = new[] { "read", "run" } });
        OtherToken = JsonNode.Parse(await bob.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();
        var version = await Api(HttpMethod.Get, "/api/models/admin/hostile/versions/1", null, token: admin);
        HostileImage = version["image"]!["versionImage"]!.GetValue<string>();
        if (Prepare)
        {
            // A first step makes the hostile model recently used: the pool prepares containers for it from then on.
            var run = await Api(HttpMethod.Post, "/api/models/admin/hostile/runs", new JsonObject(), HttpStatusCode.Created);
            var responses = new JsonObject
            {
                ["attack"] = new JsonObject { ["selected"] = 9 },
                ["targets"] = new JsonObject { ["texts"] = new JsonArray("warm-up") },
            };
            var step = await Api(HttpMethod.Post, $"/api/runs/{run["id"]}/steps/0", new JsonObject { ["responses"] = responses }, wait: 120);
            if (step["status"]!.GetValue<string>() != "succeeded") throw new InvalidOperationException($"the warm-up step failed: {step}");
        }
    }

    /// <summary>One API call with the token; asserts the status when given. <paramref name="wait"/> adds Prefer: wait=N.</summary>
    public async Task<JsonNode> Api(HttpMethod method, string path, JsonNode? body, HttpStatusCode? expected = null, int? wait = null,
        string? token = null)
    {
        using var request = new HttpRequestMessage(method, Url + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Token);
        if (wait is not null) request.Headers.Add("Prefer", $"wait={wait}");
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (expected is not null)
            Assert.True(response.StatusCode == expected, $"{method} {path}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        else
            Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    public Task DisposeAsync() => Server.DisposeAsync();
}

/// <summary><see cref="HostileServer"/> with prepared containers on (one kept ready per version and profile).</summary>
public sealed class PreparedHostileServer : HostileServer
{
    public PreparedHostileServer() : base(prepare: true) { }
}

using System.Text.Json;

namespace Feather.EndToEnd.Tests;

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<FeatherServer>;

/// <summary>
/// The product as a user meets it: bin/feather publishes a model to bin/feather-server, which
/// builds its images and runs each step in a fresh container of the real Docker engine.
/// </summary>
[Collection("server")]
public sealed class EndToEndTests(FeatherServer server)
{
    [Fact]
    public async Task Hello_is_published_and_runs_in_a_container()
    {
        var publish = await server.Cli("publish", "samples/hello", "--visibility", "public", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        Assert.Contains("image: ready", publish.Stdout);

        var run = await server.Cli("run", "admin/hello", "--inputs", "samples/hello/example-inputs.json", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var step = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps")[0];
        Assert.Equal("succeeded", step.GetProperty("status").GetString());
        var greeting = step.GetProperty("outputs")[0];
        Assert.Equal("Text.View", greeting.GetProperty("component").GetString());
        Assert.Equal("Hello, Ada!", greeting.GetProperty("value").GetProperty("texts")[0].GetString());

        var list = await server.Cli("models", "list");
        Assert.Contains("hello", list.Stdout);
    }

    [Fact]
    public async Task Vqg_gives_the_same_outputs_on_the_server_as_locally()
    {
        var local = await CommandResult.RunAsync("/usr/bin/python3",
            ["-m", "feather", "run", "samples/vqg", "--inputs", "samples/vqg/example-inputs.json", "--json"],
            server.RepoRoot, null, new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(server.RepoRoot, "python-sdk") });
        Assert.True(local.ExitCode == 0, local.ToString());

        var publish = await server.Cli("publish", "samples/vqg", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        var remote = await server.Cli("run", "admin/vqg", "--inputs", "samples/vqg/example-inputs.json", "--json");
        Assert.True(remote.ExitCode == 0, remote.ToString());

        var localQuestions = FinalTexts(JsonDocument.Parse(local.Stdout).RootElement.GetProperty("steps"));
        var remoteSteps = JsonDocument.Parse(remote.Stdout).RootElement.GetProperty("steps");
        var remoteQuestions = FinalTexts(remoteSteps);
        Assert.NotEmpty(remoteQuestions);
        Assert.All(remoteQuestions, q => Assert.EndsWith("?", q));
        Assert.Equal(localQuestions, remoteQuestions);
    }

    [Fact]
    public async Task A_step_cannot_reach_the_network_that_a_normal_container_can()
    {
        // A listener in a container on a network this test creates: a plain container on that
        // network reaches it, a Feather step (network none) does not.
        var network = "feather-e2e-" + Guid.NewGuid().ToString("N")[..8];
        var listener = network + "-listener";
        Assert.Equal(0, (await FeatherServer.Docker("network", "create", network)).ExitCode);
        try
        {
            var started = await FeatherServer.Docker("run", "-d", "--name", listener, "--network", network,
                "--label", "org.feather.test=e2e", "feather-base:bookworm", "python3", "-m", "http.server", "8000");
            Assert.True(started.ExitCode == 0, started.ToString());
            var ip = (await FeatherServer.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}", listener)).Stdout.Trim();
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+$", ip);
            var target = $"{ip}:8000";

            var control = await FeatherServer.Docker("run", "--rm", "--network", network, "--label", "org.feather.test=e2e",
                "feather-base:bookworm", "python3", "-c",
                $"import socket,time\nfor i in range(50):\n  try: socket.create_connection(('{ip}', 8000), timeout=3); print('connected'); break\n  except OSError: time.sleep(0.2)");
            Assert.Contains("connected", control.Stdout);

            var publish = await server.Cli("publish", "tests/models/net-probe", "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var inputs = Path.Combine(server.ConfigHome, "net-probe-inputs.json");
            await File.WriteAllTextAsync(inputs,
                JsonSerializer.Serialize(new { steps = new[] { new { addresses = new { texts = new[] { $"{target} 127.0.0.1:{new Uri(server.Url).Port}" } } } } }));
            var run = await server.Cli("run", "admin/net-probe", "--inputs", inputs, "--json");
            Assert.True(run.ExitCode == 0, run.ToString());
            var report = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps")[0].GetProperty("outputs")[0]
                .GetProperty("value").GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
            Assert.Equal(2, report.Length);
            Assert.All(report, line => Assert.Contains("blocked", line));
            Assert.DoesNotContain(report, line => line.Contains("connected"));
        }
        finally
        {
            await FeatherServer.Docker("rm", "-f", listener);
            await FeatherServer.Docker("network", "rm", network);
        }
    }

    [Fact]
    public async Task No_step_container_is_left_behind()
    {
        var publish = await server.Cli("publish", "samples/hello", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        for (var i = 0; i < 3; i++)
        {
            var run = await server.Cli("run", "admin/hello", "--inputs", "samples/hello/example-inputs.json");
            Assert.True(run.ExitCode == 0, run.ToString());
        }
        // Only the pool's containers may remain: prepared ahead of the next step (started, the model imported and
        // prepared, waiting for a request; or created, never started, with Runner:PrepareContainers=false),
        // one per recently used version image (Runner:WarmContainers = 1); the server removes them when it stops.
        // A finished step's container is removed just after its result is answered: allow that a moment.
        string[] lines = [];
        for (var i = 0; i < 50; i++)
        {
            var left = await FeatherServer.Docker("ps", "-a", "--format", "{{.State}} {{.Label \"org.feather.warm\"}} {{.Image}}",
                "--filter", "label=org.feather.managed=true", "--filter", $"label=org.feather.owner={server.InstanceId}");
            lines = left.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (lines.All(Pooled)) break;
            await Task.Delay(100);
        }
        Assert.All(lines, l => Assert.True(Pooled(l), l));
        Assert.Equal(lines.Length, lines.Distinct().Count());
    }

    private static bool Pooled(string line) =>
        line.StartsWith("created true ", StringComparison.Ordinal) || line.StartsWith("running prepared ", StringComparison.Ordinal);

    private static string[] FinalTexts(JsonElement steps)
    {
        var last = steps.EnumerateArray().Last();
        return last.GetProperty("outputs").EnumerateArray().First(x => x.GetProperty("component").GetString() == "Image.View")
            .GetProperty("value").GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
    }
}

[Collection("server")]
public sealed class ProfileTests(FeatherServer server)
{
    [Fact]
    public async Task A_high_profile_model_is_refused_at_publish_when_the_engine_has_no_gpu()
    {
        var info = await FeatherServer.Docker("info", "--format", "{{json .Runtimes}}");
        Assert.True(info.ExitCode == 0, info.ToString());
        if (info.Stdout.Contains("nvidia", StringComparison.OrdinalIgnoreCase))
            return; // an engine with a GPU runtime accepts high; this machine's CI engine has none

        var publish = await server.Cli("publish", "bench/gpu-check");
        Assert.NotEqual(0, publish.ExitCode);
        Assert.Contains("GPU", publish.Stdout + publish.Stderr);
        var models = await server.Cli("models", "list", "--json");
        Assert.DoesNotContain("gpu-check", models.Stdout);
    }
}

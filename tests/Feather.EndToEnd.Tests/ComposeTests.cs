using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Xunit.Abstractions;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The lab deployment as docs/deploy.md describes it: images/server/build.sh builds the server
/// image from bin/feather-server, Debian's docker-compose (v1) brings docker-compose.yml up under
/// a project name and host port of its own, and bin/feather publishes and runs a sample against
/// it. The stack is restarted and must still hold the model, its versions and the run; then it is
/// taken down with its volume and nothing may be left.
/// </summary>
public sealed class ComposeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task The_compose_stack_serves_publishes_runs_and_keeps_its_data_across_a_restart()
    {
        var repo = FindRepoRoot();
        var id = Guid.NewGuid().ToString("N")[..8];
        var project = "feathere2e" + id;
        var imageTag = "feather-server:e2e-" + id;
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        var password = "compose-" + Guid.NewGuid().ToString("N");
        var config = Directory.CreateTempSubdirectory("feather-compose-config-").FullName;
        var composeEnv = new Dictionary<string, string>
        {
            ["FEATHER_IMAGE"] = imageTag,
            ["FEATHER_HOST_PORT"] = port.ToString(),
            ["FEATHER_ADMIN_PASSWORD"] = password,
        };
        var cliEnv = new Dictionary<string, string>
        {
            ["XDG_CONFIG_HOME"] = config,
            ["XDG_CACHE_HOME"] = Path.Combine(config, "cache"),
            ["FEATHER_URL"] = url,
            ["FEATHER_PYTHON"] = "/usr/bin/python3",
        };
        Task<CommandResult> Compose(params string[] args) =>
            CommandResult.RunAsync("docker-compose", ["-f", Path.Combine(repo, "docker-compose.yml"), "-p", project, .. args], repo, null, composeEnv, TimeSpan.FromMinutes(3));
        Task<CommandResult> Cli(string? stdin, params string[] args) =>
            CommandResult.RunAsync(Path.Combine(repo, "bin", "feather"), args, repo, stdin, cliEnv);
        var clock = Stopwatch.StartNew();
        void Phase(string what) { output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {what}"); }

        var versionImages = new List<string>();
        var down = false;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            Assert.True(File.Exists(Path.Combine(repo, "bin", "feather-server")), "bin/feather-server is missing: run ./test.sh");
            var baseImage = (await FeatherServer.Docker("image", "inspect", "debian:bookworm-slim")).ExitCode == 0 ? "debian:bookworm-slim" : "feather-base:bookworm";
            var build = await CommandResult.RunAsync("bash", [Path.Combine(repo, "images/server/build.sh"), imageTag], repo, null,
                new Dictionary<string, string> { ["BASE_IMAGE"] = baseImage }, TimeSpan.FromMinutes(5));
            Assert.True(build.ExitCode == 0, build.ToString());
            Phase($"built {imageTag} on {baseImage}");

            var up = await Compose("up", "-d");
            Assert.True(up.ExitCode == 0, up.ToString());
            var container = (await Compose("ps", "-q", "feather")).Stdout.Trim();
            Assert.Matches("^[0-9a-f]{12,}$", container);
            await WaitHealthy(container, Compose);
            Phase("stack up and healthy");

            // The server in its container is configured as the image and the compose file say.
            var inspect = await FeatherServer.Docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}", container);
            Assert.Contains("unless-stopped", inspect.Stdout);
            Assert.Contains("volume:/data", inspect.Stdout);
            Assert.Contains("bind:/var/run/docker.sock", inspect.Stdout);
            var instance = (await Compose("exec", "-T", "feather", "cat", "/data/instance-id")).Stdout.Trim();
            Assert.StartsWith("feather-", instance);

            var login = await Cli(password + "\n", "login", url, "--user", "admin", "--password-stdin");
            Assert.True(login.ExitCode == 0, login.ToString());
            var publish = await Cli(null, "publish", "samples/hello", "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            Assert.Contains("image: ready", publish.Stdout);
            Assert.Contains("published admin/hello version 1", publish.Stdout);
            var run = await Cli(null, "run", "admin/hello", "--inputs", "samples/hello/example-inputs.json", "--json");
            Assert.True(run.ExitCode == 0, run.ToString());
            var runId = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("id").GetString()!;
            Assert.Equal("Hello, Ada!", Greeting(JsonDocument.Parse(run.Stdout).RootElement));
            Phase("published and ran samples/hello through bin/feather");

            var token = await Token(http, url, password);
            http.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var version = await http.GetFromJsonAsync<JsonElement>($"{url}/api/models/admin/hello/versions/1");
            versionImages.Add(version.GetProperty("image").GetProperty("versionImage").GetString()!);

            // a model with weights: kept out of its image, bound read-only into the step from the server's data volume
            // (the server finds the volume's path on the host by asking the engine about its own container)
            var weightsModel = Path.Combine(config, "weights-model");
            Directory.CreateDirectory(Path.Combine(weightsModel, "weights"));
            var weightBytes = System.Security.Cryptography.RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
            File.WriteAllBytes(Path.Combine(weightsModel, "weights", "w.bin"), weightBytes);
            File.WriteAllText(Path.Combine(weightsModel, "model.py"), """
                import hashlib

                import feather as ftr


                def init():
                    return ftr.Text.In(default_text="w.bin", title="File")


                @ftr.step(title="Hash", outputs=["sha256"])
                def digest(name: ftr.Text.In) -> ftr.Text.View:
                    with open("weights/" + name.get()[0], "rb") as f:
                        return ftr.Text.View(hashlib.sha256(f.read()).hexdigest())


                ftr.build(name="compose-weights", init=init, steps=[digest],
                          file_bundle=ftr.bundle(code_files=["model.py"], model_files=["weights/w.bin"]))
                """);
            var weightsPublish = await Cli(null, "publish", weightsModel, "--wait");
            Assert.True(weightsPublish.ExitCode == 0, weightsPublish.ToString());
            var inputs = Path.Combine(config, "weights-inputs.json");
            File.WriteAllText(inputs, """{"steps": [{"name": {"texts": ["w.bin"]}}]}""");
            var weightsRun = await Cli(null, "run", "admin/compose-weights", "--inputs", inputs, "--json");
            Assert.True(weightsRun.ExitCode == 0, weightsRun.ToString());
            var weightsStep = JsonDocument.Parse(weightsRun.Stdout).RootElement.GetProperty("steps")[0];
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weightBytes)),
                weightsStep.GetProperty("outputs")[0].GetProperty("value").GetProperty("texts")[0].GetString());
            var weightsVersion = await http.GetFromJsonAsync<JsonElement>($"{url}/api/models/admin/compose-weights/versions/1");
            var weightsImage = weightsVersion.GetProperty("image").GetProperty("versionImage").GetString()!;
            versionImages.Add(weightsImage);
            Assert.Contains("org.feather.weights-mounts", (await FeatherServer.Docker("image", "inspect", "--format", "{{json .Config.Labels}}", weightsImage)).Stdout);
            Phase("published and ran a model whose weights are mounted from the server's data volume");

            var restart = await Compose("restart");
            Assert.True(restart.ExitCode == 0, restart.ToString());
            Assert.Equal(container, (await Compose("ps", "-q", "feather")).Stdout.Trim());
            await WaitHealthy(container, Compose);
            Phase("restarted and healthy again");

            // The model, its version, the run and the token (hashed in the database) survived.
            var model = await http.GetFromJsonAsync<JsonElement>($"{url}/api/models/admin/hello");
            Assert.Equal(1, model.GetProperty("liveVersion").GetInt32());
            var versions = await http.GetFromJsonAsync<JsonElement>($"{url}/api/models/admin/hello/versions");
            Assert.Equal([1], versions.EnumerateArray().Select(v => v.GetProperty("number").GetInt32()).ToArray());
            Assert.Equal("ready", versions[0].GetProperty("imageStatus").GetString());
            var storedRun = await http.GetFromJsonAsync<JsonElement>($"{url}/api/runs/{runId}");
            Assert.Equal(runId, storedRun.GetProperty("id").GetString());
            Assert.Equal("Hello, Ada!", Greeting(storedRun));
            Assert.Equal(instance, (await Compose("exec", "-T", "feather", "cat", "/data/instance-id")).Stdout.Trim());

            // The CLI's stored login still works, and the restarted server runs steps and publishes.
            var again = await Cli(null, "run", "admin/hello", "--inputs", "samples/hello/example-inputs.json", "--json");
            Assert.True(again.ExitCode == 0, again.ToString());
            Assert.Equal("Hello, Ada!", Greeting(JsonDocument.Parse(again.Stdout).RootElement));
            var republish = await Cli(null, "publish", "samples/hello", "--notes", "after the restart", "--wait");
            Assert.True(republish.ExitCode == 0, republish.ToString());
            Assert.Contains("published admin/hello version 2", republish.Stdout);
            Assert.Contains("0 file(s) uploaded", republish.Stdout);
            var v2 = await http.GetFromJsonAsync<JsonElement>($"{url}/api/models/admin/hello/versions/2");
            versionImages.Add(v2.GetProperty("image").GetProperty("versionImage").GetString()!);
            Phase("after the restart: model, versions and run kept; ran and published again");

            Assert.Empty(await FeatherServer.StepContainersAsync(instance));

            var taken = await Compose("down", "-v");
            Assert.True(taken.ExitCode == 0, taken.ToString());
            down = true;
            Phase("down -v");
            Assert.Equal("", (await FeatherServer.Docker("ps", "-aq", "--filter", $"label=com.docker.compose.project={project}")).Stdout.Trim());
            Assert.Equal("", (await FeatherServer.Docker("volume", "ls", "-q", "--filter", $"name={project}")).Stdout.Trim());
            Assert.Equal("", (await FeatherServer.Docker("network", "ls", "-q", "--filter", $"name={project}")).Stdout.Trim());
            Assert.NotEqual(0, (await FeatherServer.Docker("volume", "inspect", $"{project}_feather-data")).ExitCode);
            Assert.NotEqual(0, (await FeatherServer.Docker("network", "inspect", $"{project}_default")).ExitCode);
        }
        finally
        {
            if (!down)
            {
                var logs = await Compose("logs", "--no-color", "--tail", "40");
                output.WriteLine(logs.Stdout);
                await Compose("down", "-v", "--timeout", "10");
            }
            foreach (var image in versionImages) await FeatherServer.Docker("rmi", "-f", image);
            await FeatherServer.Docker("rmi", "-f", imageTag);
            try { Directory.Delete(config, recursive: true); } catch (IOException) { }
        }
        Phase("cleaned up");
    }

    private async Task WaitHealthy(string container, Func<string[], Task<CommandResult>> compose)
    {
        var deadline = DateTime.UtcNow + HealthTimeout;
        var status = "";
        while (DateTime.UtcNow < deadline)
        {
            status = (await FeatherServer.Docker("inspect", "-f", "{{.State.Health.Status}}", container)).Stdout.Trim();
            if (status == "healthy") return;
            await Task.Delay(1000);
        }
        var logs = await compose(["logs", "--no-color", "--tail", "40"]);
        throw new TimeoutException($"the server container was not healthy within {HealthTimeout.TotalSeconds} s (status '{status}'):\n{logs.Stdout}{logs.Stderr}");
    }

    private static async Task<string> Token(HttpClient http, string url, string password)
    {
        using var response = await http.PostAsJsonAsync($"{url}/api/auth/tokens",
            new { username = "admin", password, name = "compose-test", scopes = new[] { "read" } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private static string Greeting(JsonElement run) =>
        run.GetProperty("steps")[0].GetProperty("outputs")[0].GetProperty("value").GetProperty("texts")[0].GetString()!;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Feather.sln) above " + AppContext.BaseDirectory);
    }
}

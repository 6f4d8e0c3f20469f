using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// Prepared containers through bin/feather-server and the real engine: a failed preparation is shown once on the
/// version (API and <c>feather versions</c>) and in each step that needed it, and the pool stops preparing it; a
/// new live version releases the old version's prepared containers at once; a stopped server leaves none.
/// Each test starts its own server (Runner:PrepareContainers=true).
/// </summary>
public sealed class PreparedContainerTests
{
    private static FeatherServer NewServer() => new(new Dictionary<string, string>
    {
        ["Runner__PrepareContainers"] = "true",
        ["Runner__WarmContainers"] = "1",
    });

    private static async Task<string> TokenAsync(FeatherServer server)
    {
        using var answer = await server.Http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = "admin", password = server.AdminPassword, name = "prepared-tests", scopes = new[] { "read", "run", "publish" } });
        return JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["token"]!.GetValue<string>();
    }

    private static async Task<JsonNode> Api(FeatherServer server, string token, HttpMethod method, string path, JsonNode? body = null,
        HttpStatusCode expected = HttpStatusCode.OK, int? wait = null)
    {
        using var request = new HttpRequestMessage(method, server.Url + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (wait is not null) request.Headers.Add("Prefer", $"wait={wait}");
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{method} {path}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Runs step 0 of a new run of <paramref name="model"/> with one text input and waits for its end.</summary>
    private static async Task<JsonNode> StepAsync(FeatherServer server, string token, string model, string input, string text)
    {
        var run = await Api(server, token, HttpMethod.Post, $"/api/models/admin/{model}/runs", new JsonObject(), HttpStatusCode.Created);
        return await Api(server, token, HttpMethod.Post, $"/api/runs/{run["id"]}/steps/0",
            new JsonObject { ["responses"] = new JsonObject { [input] = new JsonObject { ["texts"] = new JsonArray(text) } } }, wait: 120);
    }

    private static async Task<string> ImageAsync(FeatherServer server, string token, string model, int version) =>
        (await Api(server, token, HttpMethod.Get, $"/api/models/admin/{model}/versions/{version}"))["image"]!["versionImage"]!.GetValue<string>();

    /// <summary>The server's prepared containers of <paramref name="image"/> that are running (in the pool, or serving a step).</summary>
    private static async Task<int> PreparedAsync(FeatherServer server, string image)
    {
        var ps = await FeatherServer.Docker("ps", "--format", "{{.Image}}", "--filter", "label=org.feather.warm=prepared",
            "--filter", $"label=org.feather.owner={server.InstanceId}", "--filter", "status=running");
        return ps.Stdout.Split('\n').Count(i => i.Trim() == image);
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited 2 minutes for {what}");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task A_failed_preparation_shows_once_on_the_version_and_in_each_step_and_the_pool_stops_preparing_it()
    {
        var server = NewServer();
        await server.InitializeAsync();
        try
        {
            var publish = await server.Cli("publish", "tests/models/prepare-fails", "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var token = await TokenAsync(server);
            const string message = "PreparationError: the model's preparation failed: FileNotFoundError: weights.bin is missing from the bundle";
            for (var i = 0; i < 3; i++)
            {
                var step = await StepAsync(server, token, "prepare-fails", "text", $"try {i}");
                Assert.Equal("failed", step["status"]!.GetValue<string>());
                Assert.Equal(message, step["message"]!.GetValue<string>());
                Assert.Equal("PreparationError", step["error"]!["type"]!.GetValue<string>());
                Assert.Contains(step["error"]!["frames"]!.AsArray(), f => f!["function"]!.GetValue<string>() == "open_weights");
                Assert.Contains("loading weights from weights.bin", step["logs"]!.GetValue<string>());
            }

            var version = await Api(server, token, HttpMethod.Get, "/api/models/admin/prepare-fails/versions/1");
            var preparation = version["preparation"]!;
            Assert.Equal("failed", preparation["status"]!.GetValue<string>());
            Assert.Equal(message, preparation["message"]!.GetValue<string>());
            Assert.Contains(preparation["error"]!["frames"]!.AsArray(), f => f!["function"]!.GetValue<string>() == "open_weights"
                && f["file"]!.GetValue<string>() == "model.py");
            Assert.Contains("loading weights from weights.bin", preparation["log"]!.GetValue<string>());
            var summary = (await Api(server, token, HttpMethod.Get, "/api/models/admin/prepare-fails/versions")).AsArray().Single()!;
            Assert.Equal("failed", summary["preparation"]!.GetValue<string>());

            var listed = await server.Cli("versions", "list", "admin/prepare-fails");
            Assert.True(listed.ExitCode == 0, listed.ToString());
            Assert.Contains("preparation failed: " + message, listed.Stdout);

            // Reported once (the server logs each change), and nothing prepared ahead for it any more.
            var image = await ImageAsync(server, token, "prepare-fails", 1);
            await WaitForAsync(async () => await PreparedAsync(server, image) == 0, "the failed prepared containers to go");
            Assert.Single(server.LogEvents("The preparation of"), e => e.GetProperty("Image").GetString() == image);
        }
        finally
        {
            await server.DisposeAsync(); // throws when the server left a container behind after SIGTERM
        }
    }

    [Fact]
    public async Task A_new_live_version_releases_the_old_versions_prepared_containers_at_once_and_a_stop_leaves_none()
    {
        var server = NewServer();
        await server.InitializeAsync();
        var copy = Directory.CreateTempSubdirectory("feather-hello-v2-").FullName;
        try
        {
            var publish = await server.Cli("publish", "samples/hello", "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var token = await TokenAsync(server);
            Assert.Equal("succeeded", (await StepAsync(server, token, "hello", "name", "Ada"))["status"]!.GetValue<string>());
            var v1 = await ImageAsync(server, token, "hello", 1);
            await WaitForAsync(async () => await PreparedAsync(server, v1) == 1, "a prepared container of version 1");

            // Version 2 (other files), published without going live: version 1's container stays.
            foreach (var file in Directory.GetFiles(Path.Combine(server.RepoRoot, "samples/hello")))
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            File.AppendAllText(Path.Combine(copy, "model.py"), "\n# version 2\n");
            publish = await server.Cli("publish", copy, "--no-promote", "--wait");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            Assert.Equal(1, await PreparedAsync(server, v1));

            var promote = await server.Cli("versions", "promote", "admin/hello", "2");
            Assert.True(promote.ExitCode == 0, promote.ToString());
            await WaitForAsync(async () => await PreparedAsync(server, v1) == 0, "version 1's prepared container to be released");
            // the log line follows the removal (and the server's log reaches the test a moment later)
            await WaitForAsync(() => Task.FromResult(server.LogEvents("Released").Any(e => e.GetProperty("Image").GetString() == v1 && e.GetProperty("Count").GetInt32() == 1)),
                "the server to log that it released version 1's prepared container");

            Assert.Equal("succeeded", (await StepAsync(server, token, "hello", "name", "Bob"))["status"]!.GetValue<string>());
            var v2 = await ImageAsync(server, token, "hello", 2);
            await WaitForAsync(async () => await PreparedAsync(server, v2) == 1, "a prepared container of version 2");
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
            await server.DisposeAsync(); // SIGTERM: throws when the server left its prepared container (or any) behind
        }
    }
}

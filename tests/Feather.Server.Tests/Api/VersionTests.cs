using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Feather.Server.Environments;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

public class VersionTests
{
    private static async Task<string> ImageStatusAsync(HttpClient client, string path)
    {
        for (var i = 0; i < 100; i++)
        {
            var status = (await (await client.GetAsync(path)).Json(HttpStatusCode.OK))["image"]!["status"]!.GetValue<string>();
            if (status is "ready" or "failed") return status;
            await Task.Delay(100);
        }
        return "timed out waiting";
    }

    [Fact]
    public async Task Promote_rollback_and_tags_move_the_live_version_and_old_versions_stay()
    {
        var builder = new TestDoubleImageBuilder();
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder));
        using var client = server.Client(await server.AdminTokenAsync());
        for (var i = 0; i < 3; i++)
            await new TestModel { Files = new() { ["model.py"] = Encoding.UTF8.GetBytes($"v{i}"), ["weights.bin"] = [1] } }.PublishAsync(client);

        var model = await (await client.GetAsync("/api/models/admin/hello")).Json(HttpStatusCode.OK);
        Assert.Equal(3, model["liveVersion"]!.GetValue<int>());

        await (await client.PutAsJsonAsync("/api/models/admin/hello/tags/paper", new { version = "1" })).Json(HttpStatusCode.OK);
        await (await client.PutAsJsonAsync("/api/models/admin/hello/tags/stable", new { version = "2" })).Json(HttpStatusCode.OK);
        var promoted = await (await client.PostAsJsonAsync("/api/models/admin/hello/live", new { version = "paper" })).Json(HttpStatusCode.OK);
        Assert.Equal(1, promoted["liveVersion"]!.GetValue<int>());
        Assert.Equal(2, promoted["versionTags"]!["stable"]!.GetValue<int>());

        var rolledBack = await (await client.PostAsync("/api/models/admin/hello/rollback", null)).Json(HttpStatusCode.OK);
        Assert.Equal(3, rolledBack["liveVersion"]!.GetValue<int>());
        // Further rollbacks walk back through the live history (3 came after 2, 2 after 1), then stop.
        Assert.Equal(2, (await (await client.PostAsync("/api/models/admin/hello/rollback", null)).Json(HttpStatusCode.OK))["liveVersion"]!.GetValue<int>());
        Assert.Equal(1, (await (await client.PostAsync("/api/models/admin/hello/rollback", null)).Json(HttpStatusCode.OK))["liveVersion"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync("/api/models/admin/hello/rollback", null)).StatusCode);

        // Move a tag; pin by tag and number.
        await (await client.PutAsJsonAsync("/api/models/admin/hello/tags/stable", new { version = "3" })).Json(HttpStatusCode.OK);
        var stable = await (await client.GetAsync("/api/models/admin/hello/versions/stable")).Json(HttpStatusCode.OK);
        Assert.Equal(3, stable["number"]!.GetValue<int>());
        Assert.Equal(["stable"], stable["tags"]!.AsArray().Select(t => t!.GetValue<string>()));
        var old = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Equal(Http.Sha256(Encoding.UTF8.GetBytes("v0")), old["files"]!.AsArray().First(f => f!["path"]!.GetValue<string>() == "model.py")!["sha256"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/models/admin/hello/versions/9")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync("/api/models/admin/hello/live", new { version = "nope" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PutAsJsonAsync("/api/models/admin/hello/tags/live", new { version = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.DeleteAsync("/api/models/admin/hello/tags/paper")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/models/admin/hello/versions/paper")).StatusCode);
    }

    [Fact]
    public async Task Each_version_is_built_in_the_background_with_status_log_and_duration()
    {
        var builder = new TestDoubleImageBuilder();
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder));
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        await new TestModel { Files = new() { ["model.py"] = [1], ["weights.bin"] = [2], ["broken.txt"] = [3] } }.PublishAsync(client);

        Assert.Equal("ready", await ImageStatusAsync(client, "/api/models/admin/hello/versions/1"));
        var v1 = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.StartsWith("test-double-version:", v1["image"]!["versionImage"]!.GetValue<string>());
        Assert.Contains("log of", v1["image"]!["log"]!.GetValue<string>());
        Assert.True(v1["image"]!["seconds"]!.GetValue<double>() > 0);

        Assert.Equal("failed", await ImageStatusAsync(client, "/api/models/admin/hello/versions/2"));
        var v2 = await (await client.GetAsync("/api/models/admin/hello/versions/2")).Json(HttpStatusCode.OK);
        Assert.Contains("does-not-exist", v2["image"]!["error"]!.GetValue<string>());

        // a reader of a public model sees the status and the error, not the build log
        Assert.Equal(HttpStatusCode.OK, (await client.PatchAsJsonAsync("/api/models/admin/hello", new { visibility = "public" })).StatusCode);
        using var visitor = server.Client();
        var seen = await (await visitor.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Equal("ready", seen["image"]!["status"]!.GetValue<string>());
        Assert.Equal("", seen["image"]!["log"]!.GetValue<string>());

        var request = builder.Requests.First();
        Assert.Equal("feather-runner:latest", request.Environment.RunnerImage);
        Assert.Equal("3.11", request.Environment.PythonVersion);
        Assert.Equal(1, request.VersionNumber);
        Assert.Matches("^[0-9a-f]+$", request.ModelId);
    }

    [Fact]
    public async Task Without_an_image_builder_versions_stay_pending_and_build_after_a_restart_with_one()
    {
        var data = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            await using (var bare = await FeatherTestServer.StartAsync(dataDirectory: data, services: s =>
                   {
                       s.RemoveAll<IImageBuilder>();
                       s.AddSingleton<IImageBuilder, NoImageBuilder>();
                   }))
            {
                using var client = bare.Client(await bare.AdminTokenAsync());
                await new TestModel().PublishAsync(client);
                await Task.Delay(300);
                var v = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
                Assert.Equal("pending", v["image"]!["status"]!.GetValue<string>());
                await bare.StopAsync();
            }
            var builder = new TestDoubleImageBuilder();
            await using var withRunner = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder), dataDirectory: data);
            using var again = withRunner.Client(await withRunner.AdminTokenAsync());
            Assert.Equal("ready", await ImageStatusAsync(again, "/api/models/admin/hello/versions/1"));
        }
        finally
        {
            await FeatherTestServer.DeleteDataDirectoryAsync(data);
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Models;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>How the server schedules image builds and what it records for rebuilds, with an image builder double.</summary>
public class ImageBuildPolicyTests
{
    /// <summary>TEST DOUBLE: every build waits until released; answers Ready with a fixed runner image id.</summary>
    private sealed class GatedBuilder(string runnerImageId) : IImageBuilder
    {
        private int _inFlight;
        public int MostAtOnce;
        public ConcurrentQueue<VersionImageRequest> Requests { get; } = new();
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct)
        {
            Requests.Enqueue(request);
            var now = Interlocked.Increment(ref _inFlight);
            lock (Requests) MostAtOnce = Math.Max(MostAtOnce, now);
            try
            {
                await Release.Task.WaitAsync(ct);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
            return new ImageBuildResult(ImageBuildOutcome.Ready, "test-env:1", $"test-version:{request.ModelId}-{request.VersionNumber}",
                "built", TimeSpan.FromMilliseconds(1), null, runnerImageId);
        }
    }

    private static async Task<JsonNode> VersionWhenBuiltAsync(HttpClient client, string path)
    {
        for (var i = 0; i < 100; i++)
        {
            var v = await (await client.GetAsync(path)).Json(HttpStatusCode.OK);
            if (v["image"]!["status"]!.GetValue<string>() is "ready" or "failed") return v;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{path} was not built in 10 s");
    }

    [Fact]
    public async Task A_slow_build_does_not_hold_up_the_next_one()
    {
        var builder = new GatedBuilder("sha256:" + new string('a', 64));
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder));
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel { Name = "slow-one" }.PublishAsync(client);
        await new TestModel { Name = "slow-two" }.PublishAsync(client);

        for (var i = 0; i < 100 && builder.Requests.Count < 2; i++) await Task.Delay(100);
        Assert.True(builder.Requests.Count == 2, $"only {builder.Requests.Count} build(s) started while the first was still running (Runner:MaxConcurrentBuilds is 2)");
        Assert.Equal(2, builder.MostAtOnce);
        builder.Release.SetResult();
        Assert.Equal("ready", (await VersionWhenBuiltAsync(client, "/api/models/admin/slow-one/versions/1"))["image"]!["status"]!.GetValue<string>());
        Assert.Equal("ready", (await VersionWhenBuiltAsync(client, "/api/models/admin/slow-two/versions/1"))["image"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task With_one_build_at_a_time_the_second_waits()
    {
        var builder = new GatedBuilder("sha256:" + new string('a', 64));
        await using var server = await FeatherTestServer.StartAsync(
            new Dictionary<string, string> { ["Runner:MaxConcurrentBuilds"] = "1" }, s => s.AddSingleton<IImageBuilder>(builder));
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel { Name = "slow-one" }.PublishAsync(client);
        await new TestModel { Name = "slow-two" }.PublishAsync(client);
        await Task.Delay(1000);
        Assert.Single(builder.Requests);
        builder.Release.SetResult();
        await VersionWhenBuiltAsync(client, "/api/models/admin/slow-two/versions/1");
        Assert.Equal(1, builder.MostAtOnce);
    }

    [Fact]
    public async Task A_rebuild_uses_the_runner_image_the_first_build_used_not_the_configured_tag()
    {
        var runnerId = "sha256:" + new string('b', 64);
        var builder = new GatedBuilder(runnerId);
        builder.Release.SetResult();
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder));
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client);
        var built = await VersionWhenBuiltAsync(client, "/api/models/admin/hello/versions/1");
        Assert.Equal(runnerId, built["environment"]!["runnerImageId"]!.GetValue<string>());
        Assert.Equal("feather-runner:latest", built["environment"]!["runnerImage"]!.GetValue<string>());
        Assert.True(builder.Requests.TryDequeue(out var first));
        Assert.Equal("feather-runner:latest", first.Environment.RunnerImage);

        // what a run does when retention removed the version's image: back to pending, queued again
        var store = server.Services.GetRequiredService<ModelStore>();
        var version = store.Db.Versions.FindOne(v => v.Number == 1);
        version.ImageStatus = ImageStatus.Pending;
        store.SaveVersion(version);
        server.Services.GetRequiredService<ImageBuildQueue>().Enqueue(version.Id);
        await VersionWhenBuiltAsync(client, "/api/models/admin/hello/versions/1");
        Assert.True(builder.Requests.TryDequeue(out var rebuild));
        Assert.Equal(runnerId, rebuild.Environment.RunnerImage);
    }

    [Fact]
    public async Task A_model_made_with_another_python_than_the_runners_is_refused_at_publish()
    {
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder()));
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel { Customize = m => m["environment"]!["python"] = "3.12" };
        var response = await client.PostAsync("/api/publish", System.Net.Http.Json.JsonContent.Create(model.StartBody()));
        var problem = await response.Json(HttpStatusCode.BadRequest);
        var message = problem["errors"]!["metadata/environment/python"]![0]!.GetValue<string>();
        Assert.Contains("declares Python 3.12", message);
        Assert.Contains("runner image has Python 3.11", message);
        Assert.Contains("Runner:PythonVersion", message);

        // an administrator whose runner has 3.12 says so, and the same metadata is accepted
        await using var other = await FeatherTestServer.StartAsync(
            new Dictionary<string, string> { ["Runner:PythonVersion"] = "3.12" }, s => s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder()));
        using var client2 = other.Client(await other.AdminTokenAsync());
        await model.PublishAsync(client2);
    }
}

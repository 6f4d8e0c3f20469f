using System.Net;
using System.Net.Http.Json;
using System.Text;
using Feather.Server.Environments;
using Feather.Server.Models;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>
/// A version shows how its preparation went (what the runner reports through <see cref="IPreparationReports"/>), and
/// the store tells when another version goes live (the runner then releases the old version's prepared containers).
/// </summary>
public class VersionPreparationTests
{
    private static async Task<(FeatherTestServer Server, HttpClient Client, string Image)> StartAsync()
    {
        var builder = new TestDoubleImageBuilder();
        var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(builder));
        var client = server.Client(await server.AdminTokenAsync());
        await new TestModel { Files = new() { ["model.py"] = Encoding.UTF8.GetBytes("v1"), ["weights.bin"] = [1] } }.PublishAsync(client);
        string? image = null;
        for (var i = 0; i < 100 && image is null; i++)
        {
            var v = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
            image = v["image"]!["versionImage"]?.GetValue<string>();
            if (image is null) await Task.Delay(100);
        }
        return (server, client, image!);
    }

    [Fact]
    public async Task A_failed_preparation_shows_on_the_version_until_one_succeeds_and_its_log_only_to_publishers()
    {
        var (server, client, image) = await StartAsync();
        await using var _ = server;
        using var __ = client;
        var reports = server.Services.GetRequiredService<IPreparationReports>();
        Assert.IsType<VersionPreparationReports>(reports);
        var version = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Null(version["preparation"]); // not prepared yet

        const string error = """{"type":"PreparationError","message":"the model's preparation failed: OSError: no weights","frames":[{"file":"model.py","line":7,"function":"load","code":"open('w')"}]}""";
        reports.Report(image, "other.py", new PreparationFailure("PreparationError: x", null, "", DateTime.UtcNow)); // another entrypoint: not this version
        Assert.Null((await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK))["preparation"]);
        reports.Report(image, "model.py", new PreparationFailure("PreparationError: the model's preparation failed: OSError: no weights",
            error, "loading weights\nfrom w.bin", DateTime.UtcNow));

        version = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        var preparation = version["preparation"]!;
        Assert.Equal("failed", preparation["status"]!.GetValue<string>());
        Assert.Equal("PreparationError: the model's preparation failed: OSError: no weights", preparation["message"]!.GetValue<string>());
        Assert.Equal("load", preparation["error"]!["frames"]![0]!["function"]!.GetValue<string>());
        Assert.Equal("loading weights\nfrom w.bin", preparation["log"]!.GetValue<string>());
        var summary = (await (await client.GetAsync("/api/models/admin/hello/versions")).Json(HttpStatusCode.OK)).AsArray().Single()!;
        Assert.Equal("failed", summary["preparation"]!.GetValue<string>());
        Assert.Equal("PreparationError: the model's preparation failed: OSError: no weights", summary["preparationMessage"]!.GetValue<string>());

        // Someone who may read the model but not publish it sees the failure, not the model's log.
        await (await client.PatchAsJsonAsync("/api/models/admin/hello", new { visibility = "public" })).Json(HttpStatusCode.OK);
        using var anonymous = server.Client();
        var seen = await (await anonymous.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Equal("failed", seen["preparation"]!["status"]!.GetValue<string>());
        Assert.Equal("", seen["preparation"]!["log"]!.GetValue<string>());

        reports.Report(image, "model.py", null); // a step prepared it after all
        preparation = (await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK))["preparation"]!;
        Assert.Equal("ready", preparation["status"]!.GetValue<string>());
        Assert.Null(preparation["message"]);
    }

    [Fact]
    public async Task The_store_tells_when_another_version_goes_live_at_publish_promote_and_rollback()
    {
        var (server, client, _) = await StartAsync();
        await using var _s = server;
        using var _c = client;
        var store = server.Services.GetRequiredService<ModelStore>();
        var changes = new List<(int Old, int New)>();
        store.LiveChanged += (old, current) => { lock (changes) changes.Add((old.Number, current.Number)); };

        await new TestModel { Files = new() { ["model.py"] = Encoding.UTF8.GetBytes("v2"), ["weights.bin"] = [1] } }.PublishAsync(client); // goes live
        await (await client.PostAsJsonAsync("/api/models/admin/hello/live", new { version = "1" })).Json(HttpStatusCode.OK);
        await (await client.PostAsJsonAsync("/api/models/admin/hello/live", new { version = "1" })).Json(HttpStatusCode.OK); // unchanged
        await (await client.PostAsync("/api/models/admin/hello/rollback", null)).Json(HttpStatusCode.OK);
        Assert.Equal([(1, 2), (2, 1), (1, 2)], changes);
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>A version published with promote: false leaves the live model as it is until it is promoted.</summary>
public class NoPromoteTests
{
    private static async Task<JsonNode> PublishAsync(HttpClient client, TestModel model, string? visibility, bool promote)
    {
        var body = model.StartBody(visibility: visibility);
        body["promote"] = promote;
        var start = await (await client.PostAsJsonAsync("/api/publish", body)).Json(HttpStatusCode.Created);
        await model.UploadAllAsync(client, start);
        return await (await client.PostAsync($"/api/publish/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
    }

    [Fact]
    public async Task An_unpromoted_version_changes_nothing_visible_until_it_is_promoted()
    {
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder()));
        using var client = server.Client(await server.AdminTokenAsync());
        await PublishAsync(client, new TestModel { Description = "First words.", Task = "greeting" }, "public", promote: true);

        var second = new TestModel { Description = "Second words.", Task = "farewell" };
        await PublishAsync(client, second, "private", promote: false);
        var model = await (await client.GetAsync("/api/models/admin/hello")).Json(HttpStatusCode.OK);
        Assert.Equal(1, model["liveVersion"]!.GetValue<int>());
        Assert.Equal(2, model["latestVersion"]!.GetValue<int>());
        Assert.Equal("First words.", model["description"]!.GetValue<string>());
        Assert.Equal("public", model["visibility"]!.GetValue<string>());
        Assert.Contains("greeting", model.ToJsonString());
        Assert.DoesNotContain("farewell", model.ToJsonString());
        // anonymous visitors still see the public model
        using var anonymous = server.Client();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/models/admin/hello")).StatusCode);

        // promoting applies what version 2 was published with
        var promoted = await (await client.PostAsJsonAsync("/api/models/admin/hello/live", new { version = "2" })).Json(HttpStatusCode.OK);
        Assert.Equal(2, promoted["liveVersion"]!.GetValue<int>());
        Assert.Equal("Second words.", promoted["description"]!.GetValue<string>());
        Assert.Equal("private", promoted["visibility"]!.GetValue<string>());
        Assert.Contains("farewell", promoted.ToJsonString());
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/api/models/admin/hello")).StatusCode);

        // rolling back shows version 1's description and tags again (visibility stays as the owner last chose)
        var rolledBack = await (await client.PostAsync("/api/models/admin/hello/rollback", null)).Json(HttpStatusCode.OK);
        Assert.Equal(1, rolledBack["liveVersion"]!.GetValue<int>());
        Assert.Equal("First words.", rolledBack["description"]!.GetValue<string>());
        Assert.Contains("greeting", rolledBack.ToJsonString());
    }

    [Fact]
    public async Task The_first_version_of_a_model_goes_live_even_without_promote()
    {
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder()));
        using var client = server.Client(await server.AdminTokenAsync());
        await PublishAsync(client, new TestModel { Description = "Only words." }, "unlisted", promote: false);
        var model = await (await client.GetAsync("/api/models/admin/hello")).Json(HttpStatusCode.OK);
        Assert.Equal(1, model["liveVersion"]!.GetValue<int>());
        Assert.Equal("Only words.", model["description"]!.GetValue<string>());
        Assert.Equal("unlisted", model["visibility"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_catalogue_shows_the_live_versions_display_name()
    {
        await using var server = await FeatherTestServer.StartAsync(services: s => s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder()));
        using var client = server.Client(await server.AdminTokenAsync());
        await PublishAsync(client, new TestModel { Name = "palette-questions", Customize = m => m["title"] = "Palette questions" }, "public", promote: true);
        async Task<JsonNode> EntryAsync() =>
            (await (await client.GetAsync("/api/models")).Json(HttpStatusCode.OK)).AsArray().Single(m => m!["name"]!.GetValue<string>() == "palette-questions")!;
        Assert.Equal("Palette questions", (await EntryAsync())["title"]!.GetValue<string>());

        await PublishAsync(client, new TestModel { Name = "palette-questions" }, null, promote: false);
        Assert.Equal("Palette questions", (await EntryAsync())["title"]!.GetValue<string>());
        await (await client.PostAsJsonAsync("/api/models/admin/palette-questions/live", new { version = "2" })).Json(HttpStatusCode.OK);
        Assert.Null((await EntryAsync())["title"]);
    }
}

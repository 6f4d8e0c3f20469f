using System.Net;
using System.Net.Http.Json;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>Owner, team member, other user and anonymous visitor against the model endpoints.</summary>
public class VisibilityTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;
    private HttpClient _owner = null!, _member = null!, _other = null!, _anonymous = null!;

    public async Task InitializeAsync()
    {
        _server = await FeatherTestServer.StartAsync();
        _owner = _server.Client(await _server.UserTokenAsync("olivia"));
        _member = _server.Client(await _server.UserTokenAsync("max"));
        _other = _server.Client(await _server.UserTokenAsync("oscar"));
        _anonymous = _server.Client();
        await (await _owner.PostAsJsonAsync("/api/teams", new { name = "vision-lab" })).Json(HttpStatusCode.Created);
        await (await _owner.PostAsJsonAsync("/api/teams/vision-lab/members", new { username = "max" })).Json(HttpStatusCode.OK);
    }

    public async Task DisposeAsync()
    {
        foreach (var c in new[] { _owner, _member, _other, _anonymous }) c.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_private_team_model_is_404_to_others_and_open_to_its_team()
    {
        await new TestModel { Name = "secret" }.PublishAsync(_owner, owner: "vision-lab", visibility: "private");
        const string path = "/api/models/vision-lab/secret";

        foreach (var insider in new[] { _owner, _member })
        {
            await (await insider.GetAsync(path)).Json(HttpStatusCode.OK);
            await (await insider.GetAsync($"{path}/versions")).Json(HttpStatusCode.OK);
            Assert.Contains("secret", (await insider.GetStringAsync("/api/models")));
        }
        foreach (var outsider in new[] { _other, _anonymous })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync(path)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync($"{path}/versions")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync($"{path}/versions/1")).StatusCode);
            Assert.DoesNotContain("secret", await outsider.GetStringAsync("/api/models"));
        }
        // Writes: team members can publish and tag; others cannot even learn that the model exists.
        await new TestModel { Name = "secret" }.PublishAsync(_member, owner: "vision-lab");
        await (await _member.PutAsJsonAsync($"{path}/tags/stable", new { version = "2" })).Json(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NotFound, (await _other.PutAsJsonAsync($"{path}/tags/stable", new { version = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _other.PostAsJsonAsync($"{path}/live", new { version = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _anonymous.PostAsJsonAsync($"{path}/live", new { version = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _other.PostAsJsonAsync($"{path}/runs", new { })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.PostAsJsonAsync($"{path}/runs", new { })).StatusCode);

        var asOther = await _other.PostAsJsonAsync("/api/publish", new TestModel { Name = "secret" }.StartBody(owner: "vision-lab"));
        Assert.Equal(HttpStatusCode.Forbidden, asOther.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _other.GetAsync("/api/teams/vision-lab")).StatusCode);
    }

    [Fact]
    public async Task Public_models_are_listed_for_everyone_and_unlisted_ones_only_reachable_by_link()
    {
        await new TestModel { Name = "open", Description = "An open detector", Task = "object-detection" }.PublishAsync(_owner, visibility: "public");
        await new TestModel { Name = "link-only" }.PublishAsync(_owner, visibility: "unlisted");

        var anonymousList = await (await _anonymous.GetAsync("/api/models")).Json(HttpStatusCode.OK);
        Assert.Equal(["open"], anonymousList.AsArray().Select(m => m!["name"]!.GetValue<string>()));
        await (await _anonymous.GetAsync("/api/models/olivia/link-only")).Json(HttpStatusCode.OK);
        await (await _anonymous.GetAsync("/api/models/olivia/open")).Json(HttpStatusCode.OK);

        // Catalogue search by text and by task tag.
        Assert.Single((await (await _anonymous.GetAsync("/api/models?q=detector")).Json(HttpStatusCode.OK)).AsArray());
        Assert.Single((await (await _anonymous.GetAsync("/api/models?task=object-detection")).Json(HttpStatusCode.OK)).AsArray());
        Assert.Empty((await (await _anonymous.GetAsync("/api/models?task=translation")).Json(HttpStatusCode.OK)).AsArray());

        // Others can read but not change a public model.
        Assert.Equal(HttpStatusCode.Forbidden, (await _other.PatchAsJsonAsync("/api/models/olivia/open", new { visibility = "private" })).StatusCode);
        await (await _owner.PatchAsJsonAsync("/api/models/olivia/open", new { visibility = "private" })).Json(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.GetAsync("/api/models/olivia/open")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _owner.PatchAsJsonAsync("/api/models/olivia/open", new { visibility = "secret" })).StatusCode);
    }

    [Fact]
    public async Task Models_are_private_by_default_and_users_cannot_publish_as_someone_else()
    {
        await new TestModel { Name = "mine" }.PublishAsync(_owner);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.GetAsync("/api/models/olivia/mine")).StatusCode);
        var impostor = await _other.PostAsJsonAsync("/api/publish", new TestModel { Name = "mine" }.StartBody(owner: "olivia"));
        Assert.Equal(HttpStatusCode.Forbidden, impostor.StatusCode);
        var nobody = await _other.PostAsJsonAsync("/api/publish", new TestModel().StartBody(owner: "ghost"));
        Assert.Equal(HttpStatusCode.NotFound, nobody.StatusCode);
    }
}

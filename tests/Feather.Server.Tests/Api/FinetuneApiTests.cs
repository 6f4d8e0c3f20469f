using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>
/// Starting fine-tune jobs through the HTTP API (the server with its real store, no runner: the end-to-end tests train
/// for real): who may start one and see it, where its version goes, and how a bad request is refused.
/// </summary>
public class FinetuneApiTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;
    private HttpClient _olivia = null!, _oscar = null!, _anonymous = null!;

    private static readonly Action<JsonObject> Trainable = m => m["train"] = JsonNode.Parse("""
        {"function": "train", "params": {"epochs": {"type": "integer", "default": 5, "minimum": 1, "maximum": 50}}}
        """);

    public async Task InitializeAsync()
    {
        _server = await FeatherTestServer.StartAsync();
        _olivia = _server.Client(await _server.UserTokenAsync("olivia"));
        _oscar = _server.Client(await _server.UserTokenAsync("oscar"));
        _anonymous = _server.Client();
        await new TestDataset().PublishAsync(_olivia, visibility: "public");                          // olivia/digits-mini
        await new TestDataset { Name = "secret-digits" }.PublishAsync(_olivia, visibility: "private");
        await new TestModel { Name = "tunable", Customize = Trainable }.PublishAsync(_olivia, visibility: "public");
        await new TestModel { Name = "hidden", Customize = Trainable }.PublishAsync(_olivia, visibility: "private");
        await new TestModel { Name = "fixed" }.PublishAsync(_olivia, visibility: "public");
    }

    public async Task DisposeAsync()
    {
        foreach (var c in new[] { _olivia, _oscar, _anonymous }) c.Dispose();
        await _server.DisposeAsync();
    }

    private static JsonObject Request(string model, string dataset, JsonObject? @params = null) =>
        new() { ["model"] = model, ["dataset"] = dataset, ["params"] = @params };

    [Fact]
    public async Task The_owner_fine_tunes_into_the_model_itself_and_another_user_into_their_own_model_ft()
    {
        var own = await (await _olivia.PostAsJsonAsync("/api/finetunes", Request("olivia/tunable", "olivia/digits-mini"))).Json(HttpStatusCode.Accepted);
        Assert.Equal("olivia/tunable", own["resultModel"]!.GetValue<string>());
        Assert.Equal("queued", own["status"]!.GetValue<string>());
        Assert.Equal(5, own["params"]!["epochs"]!.GetValue<int>());   // the default, recorded
        var other = await (await _oscar.PostAsJsonAsync("/api/finetunes",
            Request("olivia/tunable", "olivia/digits-mini", new JsonObject { ["epochs"] = 2 }))).Json(HttpStatusCode.Accepted);
        Assert.Equal("oscar/tunable-ft", other["resultModel"]!.GetValue<string>());
        Assert.Equal("oscar", other["requestedBy"]!.GetValue<string>());

        // a job is its caller's: 404 to others, listed only for its caller
        var id = own["id"]!.GetValue<string>();
        await (await _oscar.GetAsync($"/api/finetunes/{id}")).Json(HttpStatusCode.NotFound);
        await (await _oscar.GetAsync($"/api/finetunes/{id}/events")).Json(HttpStatusCode.NotFound);
        await (await _oscar.DeleteAsync($"/api/finetunes/{id}")).Json(HttpStatusCode.NotFound);
        var mine = await (await _oscar.GetAsync("/api/finetunes")).Json(HttpStatusCode.OK);
        Assert.Equal([other["id"]!.GetValue<string>()], mine.AsArray().Select(j => j!["id"]!.GetValue<string>()));
        var detail = await (await _olivia.GetAsync($"/api/finetunes/{id}")).Json(HttpStatusCode.OK);
        Assert.Equal(id, detail["job"]!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, (await _anonymous.PostAsJsonAsync("/api/finetunes", Request("olivia/tunable", "olivia/digits-mini"))).StatusCode);
    }

    [Fact]
    public async Task What_the_caller_cannot_read_is_404_and_a_bad_request_says_why()
    {
        async Task<JsonNode> Refused(HttpClient client, JsonObject body, HttpStatusCode status) =>
            await (await client.PostAsJsonAsync("/api/finetunes", body)).Json(status);
        await Refused(_oscar, Request("olivia/hidden", "olivia/digits-mini"), HttpStatusCode.NotFound);
        await Refused(_oscar, Request("olivia/tunable", "olivia/secret-digits"), HttpStatusCode.NotFound);
        await Refused(_oscar, Request("olivia/tunable", "nobody"), HttpStatusCode.NotFound);
        var fixedModel = await Refused(_olivia, Request("olivia/fixed", "olivia/digits-mini"), HttpStatusCode.BadRequest);
        Assert.Contains("declares no training function", fixedModel["detail"]!.GetValue<string>());
        var bad = await Refused(_olivia, Request("olivia/tunable", "olivia/digits-mini", new JsonObject { ["epochs"] = 99, ["lr"] = 1 }), HttpStatusCode.BadRequest);
        Assert.NotNull(bad["errors"]!["params/epochs"]);
        Assert.Contains("unknown param", bad["errors"]!["params/lr"]![0]!.GetValue<string>());
        var unknownVersion = await Refused(_olivia, new JsonObject { ["model"] = "olivia/tunable", ["dataset"] = "olivia/digits-mini", ["version"] = "7" }, HttpStatusCode.NotFound);
        Assert.Contains("no version or tag '7'", unknownVersion["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_job_counts_towards_the_callers_usage_and_a_used_up_quota_refuses_it_with_429()
    {
        using var admin = _server.Client(await _server.AdminTokenAsync());
        var pia = _server.Client(await _server.UserTokenAsync("pia"));
        await (await admin.PutAsJsonAsync("/api/quotas/user/pia", new { stepsPerDay = 1 })).Json(HttpStatusCode.OK);
        await (await pia.PostAsJsonAsync("/api/finetunes", Request("olivia/tunable", "olivia/digits-mini"))).Json(HttpStatusCode.Accepted);
        var usage = await (await pia.GetAsync("/api/usage")).Json(HttpStatusCode.OK);
        Assert.Equal(1, usage["totals"]!["steps"]!.GetValue<int>());
        Assert.Contains(usage["byModel"]!.AsArray(), r => r!["key"]!.GetValue<string>() == "olivia/tunable");
        var refused = await pia.PostAsJsonAsync("/api/finetunes", Request("olivia/tunable", "olivia/digits-mini"));
        var problem = await refused.Json((HttpStatusCode)429);
        Assert.Equal("stepsPerDay", problem["quota"]!.GetValue<string>());
        Assert.NotNull(refused.Headers.RetryAfter);
        // the refused job was not recorded
        Assert.Single((await (await pia.GetAsync("/api/finetunes")).Json(HttpStatusCode.OK)).AsArray());
    }
}

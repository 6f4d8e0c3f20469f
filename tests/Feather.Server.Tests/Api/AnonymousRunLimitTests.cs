using System.Net;
using System.Net.Http.Json;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>Anonymous visitors start a limited number of runs a minute per address (FEATHER_ANON_RUNS_PER_MINUTE); signed-in callers do not count.</summary>
public class AnonymousRunLimitTests
{
    [Fact]
    public async Task An_anonymous_address_past_its_runs_per_minute_gets_429_and_a_signed_in_caller_does_not()
    {
        await using var server = await FeatherTestServer.StartAsync(new Dictionary<string, string> { ["FEATHER_ANON_RUNS_PER_MINUTE"] = "2" });
        using var admin = server.Client(await server.AdminTokenAsync());
        await new TestModel { Name = "open" }.PublishAsync(admin, visibility: "public");
        using var anonymous = server.Client();

        for (var i = 0; i < 2; i++)
            Assert.Equal(HttpStatusCode.Created, (await anonymous.PostAsJsonAsync("/api/models/admin/open/runs", new { })).StatusCode);
        var refused = await (await anonymous.PostAsJsonAsync("/api/models/admin/open/runs", new { })).Json((HttpStatusCode)429);
        Assert.Contains("anonymous visitors may start a limited number of runs and steps per minute", refused["detail"]!.GetValue<string>());
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/models/admin/open/runs", new { })).StatusCode);
    }
}

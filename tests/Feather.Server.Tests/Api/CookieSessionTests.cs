using System.Net;
using System.Net.Http.Json;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

public class CookieSessionTests
{
    [Fact]
    public async Task Portal_login_sets_a_session_cookie_and_unsafe_calls_need_the_antiforgery_token()
    {
        await using var server = await FeatherTestServer.StartAsync();
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = server.BaseAddress };

        var wrong = await browser.PostAsJsonAsync("/api/auth/login", new { username = "admin", password = "wrong-password" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/me")).StatusCode);

        var login = await (await browser.PostAsJsonAsync("/api/auth/login", new { username = "admin", password = FeatherTestServer.AdminPassword }))
            .Json(HttpStatusCode.OK);
        Assert.True(login["isAdmin"]!.GetValue<bool>());
        var session = cookies.GetCookies(server.BaseAddress)["feather.session"];
        Assert.NotNull(session);
        Assert.True(session.HttpOnly);

        var me = await (await browser.GetAsync("/api/me")).Json(HttpStatusCode.OK);
        Assert.Equal("admin", me["username"]!.GetValue<string>());

        // A forged cross-site request carries the cookie but not the token.
        var forged = await browser.PostAsJsonAsync("/api/teams", new { name = "forged" });
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("X-CSRF-TOKEN", await forged.Content.ReadAsStringAsync());

        var csrf = await (await browser.GetAsync("/api/auth/antiforgery")).Json(HttpStatusCode.OK);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/teams") { Content = JsonContent.Create(new { name = "real" }) };
        request.Headers.Add("X-CSRF-TOKEN", csrf["token"]!.GetValue<string>());
        await (await browser.SendAsync(request)).Json(HttpStatusCode.Created);

        var logout = new HttpRequestMessage(HttpMethod.Post, "/api/auth/logout");
        logout.Headers.Add("X-CSRF-TOKEN", csrf["token"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(logout)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task A_session_survives_a_server_restart()
    {
        var data = Directory.CreateTempSubdirectory("feather-test-").FullName;
        var cookies = new CookieContainer();
        try
        {
            Uri first;
            await using (var server = await FeatherTestServer.StartAsync(dataDirectory: data))
            {
                first = server.BaseAddress;
                using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = first };
                await (await browser.PostAsJsonAsync("/api/auth/login", new { username = "admin", password = FeatherTestServer.AdminPassword })).Json(HttpStatusCode.OK);
                await server.StopAsync();
            }
            await using var again = await FeatherTestServer.StartAsync(dataDirectory: data);
            using var client = new HttpClient { BaseAddress = again.BaseAddress };
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
            request.Headers.Add("Cookie", cookies.GetCookieHeader(first));
            await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
        }
        finally
        {
            await FeatherTestServer.DeleteDataDirectoryAsync(data);
        }
    }
}

using System.Net;
using System.Net.Http.Json;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>Password change, sign out everywhere and disabled users, with real cookie sessions and tokens.</summary>
public class AccountSecurityTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;

    public async Task InitializeAsync() => _server = await FeatherTestServer.StartAsync();
    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>A browser signed in to the portal: its client and antiforgery token.</summary>
    private sealed class Browser(HttpClient client, string csrf) : IDisposable
    {
        public HttpClient Client { get; } = client;

        public Task<HttpResponseMessage> PostAsync(string path, object? body = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body is null ? null : JsonContent.Create(body) };
            request.Headers.Add("X-CSRF-TOKEN", csrf);
            return Client.SendAsync(request);
        }

        public async Task<HttpStatusCode> MeAsync() => (await Client.GetAsync("/api/me")).StatusCode;

        public void Dispose() => Client.Dispose();
    }

    private async Task<Browser> SignInAsync(string username, string password)
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = _server.BaseAddress };
        await (await client.PostAsJsonAsync("/api/auth/login", new { username, password })).Json(HttpStatusCode.OK);
        var csrf = await (await client.GetAsync("/api/auth/antiforgery")).Json(HttpStatusCode.OK);
        return new Browser(client, csrf["token"]!.GetValue<string>());
    }

    [Fact]
    public async Task Changing_the_password_needs_the_current_one_and_ends_the_other_sessions()
    {
        var token = await _server.UserTokenAsync("ada");
        using var laptop = await SignInAsync("ada", "user-password-1");
        using var phone = await SignInAsync("ada", "user-password-1");

        var wrong = await laptop.PostAsync("/api/auth/password", new { currentPassword = "not-my-password", newPassword = "new-password-2" });
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Contains("current password is wrong", await wrong.Content.ReadAsStringAsync());
        var tooShort = await laptop.PostAsync("/api/auth/password", new { currentPassword = "user-password-1", newPassword = "short" });
        Assert.Contains("at least 8 characters", (await tooShort.Json(HttpStatusCode.BadRequest))["detail"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.NoContent,
            (await laptop.PostAsync("/api/auth/password", new { currentPassword = "user-password-1", newPassword = "new-password-2" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, await laptop.MeAsync());          // the session that changed it goes on,
        Assert.Equal(HttpStatusCode.Created, (await laptop.PostAsync("/api/teams", new { name = "ada-lab" })).StatusCode); // its page's antiforgery token too
        Assert.Equal(HttpStatusCode.Unauthorized, await phone.MeAsync()); // every other session ends
        using var asToken = _server.Client(token);
        Assert.Equal(HttpStatusCode.OK, (await asToken.GetAsync("/api/me")).StatusCode); // tokens stay (documented)

        using var anonymous = _server.Client();
        Assert.Equal(HttpStatusCode.Unauthorized,
            (await anonymous.PostAsJsonAsync("/api/auth/login", new { username = "ada", password = "user-password-1" })).StatusCode);
        await (await anonymous.PostAsJsonAsync("/api/auth/tokens", new { username = "ada", password = "new-password-2" })).Json(HttpStatusCode.Created);

        // With a token the password can be changed too (the CLI's `feather password`).
        var back = await asToken.PostAsJsonAsync("/api/auth/password", new { currentPassword = "new-password-2", newPassword = "user-password-1" });
        Assert.Equal(HttpStatusCode.NoContent, back.StatusCode);
    }

    [Fact]
    public async Task Signing_out_everywhere_ends_every_session_and_revokes_every_token()
    {
        var token = await _server.UserTokenAsync("bea");
        var other = await _server.UserTokenAsync("cy");
        using var laptop = await SignInAsync("bea", "user-password-1");
        using var phone = await SignInAsync("bea", "user-password-1");

        var done = await (await laptop.PostAsync("/api/auth/logout-everywhere")).Json(HttpStatusCode.OK);
        Assert.Equal("bea", done["username"]!.GetValue<string>());
        Assert.Equal(1, done["tokensRevoked"]!.GetValue<int>());

        Assert.Equal(HttpStatusCode.Unauthorized, await laptop.MeAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, await phone.MeAsync());
        using var asToken = _server.Client(token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asToken.GetAsync("/api/me")).StatusCode);
        using var asOther = _server.Client(other);
        Assert.Equal(HttpStatusCode.OK, (await asOther.GetAsync("/api/me")).StatusCode); // other users are untouched

        // A token can do it as well (the CLI's `feather logout --everywhere`), and revokes itself.
        var fresh = await _server.LoginAsync("bea", "user-password-1");
        using var asFresh = _server.Client(fresh);
        await (await asFresh.PostAsync("/api/auth/logout-everywhere", null)).Json(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asFresh.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task A_disabled_user_cannot_sign_in_and_their_tokens_and_sessions_stop_at_once()
    {
        var token = await _server.UserTokenAsync("dee");
        using var browser = await SignInAsync("dee", "user-password-1");
        using var admin = _server.Client(await _server.AdminTokenAsync());
        using var asDee = _server.Client(token);

        Assert.Equal(HttpStatusCode.Forbidden, (await asDee.PostAsync("/api/users/admin/disable", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/api/users/nobody/disable", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsync("/api/users/admin/disable", null)).StatusCode);

        var disabled = await (await admin.PostAsync("/api/users/dee/disable", null)).Json(HttpStatusCode.OK);
        Assert.True(disabled["disabled"]!.GetValue<bool>());

        var refused = await asDee.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("disabled", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, await browser.MeAsync());
        using var anonymous = _server.Client();
        var login = await anonymous.PostAsJsonAsync("/api/auth/login", new { username = "dee", password = "user-password-1" });
        Assert.Equal(HttpStatusCode.Forbidden, login.StatusCode);
        Assert.Contains("disabled", await login.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden,
            (await anonymous.PostAsJsonAsync("/api/auth/tokens", new { username = "dee", password = "user-password-1" })).StatusCode);
        var listed = await (await admin.GetAsync("/api/users")).Json(HttpStatusCode.OK);
        Assert.True(listed.AsArray().Single(u => u!["username"]!.GetValue<string>() == "dee")!["disabled"]!.GetValue<bool>());

        // Enabled again, the user signs in and their tokens work; the ended session stays ended.
        Assert.False((await (await admin.PostAsync("/api/users/dee/enable", null)).Json(HttpStatusCode.OK))["disabled"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.OK, (await asDee.GetAsync("/api/me")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await browser.MeAsync());
        using var again = await SignInAsync("dee", "user-password-1");
        Assert.Equal(HttpStatusCode.OK, await again.MeAsync());
    }
}

using System.Net;
using System.Net.Http.Json;
using Feather.Server.Storage;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

public class AuthTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;

    public async Task InitializeAsync() => _server = await FeatherTestServer.StartAsync();
    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Health_and_readiness_answer()
    {
        using var client = _server.Client();
        Assert.Equal("ok", (await (await client.GetAsync("/healthz")).Json(HttpStatusCode.OK))["status"]!.GetValue<string>());
        var ready = await (await client.GetAsync("/readyz")).Json(HttpStatusCode.OK);
        Assert.Equal("ready", ready["status"]!.GetValue<string>());
        Assert.Equal("ok", ready["checks"]!["database"]!.GetValue<string>());
    }

    [Fact]
    public async Task Password_grant_returns_a_token_shown_once_and_stored_only_as_its_hash()
    {
        using var client = _server.Client();
        var created = await (await client.PostAsJsonAsync("/api/auth/tokens",
            new { username = "admin", password = FeatherTestServer.AdminPassword, name = "laptop", scopes = new[] { "read", "publish" } }))
            .Json(HttpStatusCode.Created);
        var token = created["token"]!.GetValue<string>();
        Assert.StartsWith("ftr_", token);
        Assert.Equal(["read", "publish"], created["scopes"]!.AsArray().Select(s => s!.GetValue<string>()));

        var stored = _server.Services.GetRequiredService<FeatherDb>().Tokens.FindAll().ToList();
        Assert.Single(stored);
        Assert.Equal(Http.Sha256(System.Text.Encoding.UTF8.GetBytes(token)), stored[0].Hash);
        Assert.DoesNotContain(token, System.Text.Json.JsonSerializer.Serialize(stored));

        using var authed = _server.Client(token);
        var me = await (await authed.GetAsync("/api/me")).Json(HttpStatusCode.OK);
        Assert.Equal("admin", me["username"]!.GetValue<string>());
        var list = await (await authed.GetAsync("/api/auth/tokens")).Json(HttpStatusCode.OK);
        Assert.Equal("laptop", list[0]!["name"]!.GetValue<string>());
        Assert.NotNull(list[0]!["lastUsedAt"]);
        Assert.Null(list[0]!["token"]);
    }

    [Fact]
    public async Task Password_guessing_from_one_address_is_refused_after_five_wrong_passwords_before_any_hashing()
    {
        var held = await _server.AdminTokenAsync();
        using var client = _server.Client();
        for (var i = 0; i < Feather.Server.Auth.LoginThrottle.PairFailures; i++)
            Assert.Equal(HttpStatusCode.Unauthorized,
                (await client.PostAsJsonAsync("/api/auth/tokens", new { username = "admin", password = $"guess-{i}" })).StatusCode);
        // now even the right password is refused for a while, on both password endpoints
        var blocked = await client.PostAsJsonAsync("/api/auth/login", new { username = "admin", password = FeatherTestServer.AdminPassword });
        Assert.Equal((HttpStatusCode)429, blocked.StatusCode);
        Assert.True(blocked.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("too many wrong passwords", await blocked.Content.ReadAsStringAsync());
        Assert.Equal((HttpStatusCode)429,
            (await client.PostAsJsonAsync("/api/auth/tokens", new { username = "admin", password = FeatherTestServer.AdminPassword })).StatusCode);
        // a token already held keeps working
        using var admin = _server.Client(held);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task An_admin_can_find_and_revoke_a_users_leaked_token_and_nobody_else_can()
    {
        var ada = await _server.UserTokenAsync("ada");
        var bob = await _server.UserTokenAsync("bob");
        using var admin = _server.Client(await _server.AdminTokenAsync());
        using var asBob = _server.Client(bob);
        Assert.Equal(HttpStatusCode.Forbidden, (await asBob.GetAsync("/api/auth/tokens?user=ada")).StatusCode);

        var listed = await (await admin.GetAsync("/api/auth/tokens?user=ada")).Json(HttpStatusCode.OK);
        var id = Assert.Single(listed.AsArray())!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.NotFound, (await asBob.DeleteAsync($"/api/auth/tokens/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/auth/tokens/{id}")).StatusCode);
        using var asAda = _server.Client(ada);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asAda.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_throttled()
    {
        await using var server = await FeatherTestServer.StartAsync(new Dictionary<string, string> { ["FEATHER_TRUSTED_PROXIES"] = "127.0.0.1" });
        using var client = server.Client();
        async Task<HttpStatusCode> Attempt(string client_, string user, string password)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/tokens")
            { Content = JsonContent.Create(new { username = user, password }) };
            request.Headers.Add("X-Forwarded-For", client_);
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }
        for (var i = 0; i < Feather.Server.Auth.LoginThrottle.AddressFailures; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, await Attempt("192.0.2.10", $"nobody{i}", "wrong-password"));
        Assert.Equal((HttpStatusCode)429, await Attempt("192.0.2.10", "admin", FeatherTestServer.AdminPassword));
        // another client behind the same proxy is not blocked by the first one's guesses
        Assert.Equal(HttpStatusCode.Created, await Attempt("192.0.2.11", "admin", FeatherTestServer.AdminPassword));
    }

    [Fact]
    public async Task An_attacker_guessing_the_admin_password_does_not_lock_the_admin_out()
    {
        await using var server = await FeatherTestServer.StartAsync(new Dictionary<string, string> { ["FEATHER_TRUSTED_PROXIES"] = "127.0.0.1" });
        using var client = server.Client();
        async Task<HttpStatusCode> Attempt(string from, string password)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/tokens")
            { Content = JsonContent.Create(new { username = "admin", password }) };
            request.Headers.Add("X-Forwarded-For", from);
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }
        const string owner = "192.0.2.20", attacker = "198.51.100.66";
        Assert.Equal(HttpStatusCode.Created, await Attempt(owner, FeatherTestServer.AdminPassword)); // the admin's usual address

        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 50; i++) answers.Add(await Attempt(attacker, $"guess-{i}"));
        Assert.All(answers.Take(Feather.Server.Auth.LoginThrottle.PairFailures), a => Assert.Equal(HttpStatusCode.Unauthorized, a));
        Assert.All(answers.Skip(Feather.Server.Auth.LoginThrottle.PairFailures), a => Assert.Equal((HttpStatusCode)429, a));
        Assert.Equal((HttpStatusCode)429, await Attempt(attacker, FeatherTestServer.AdminPassword));
        Assert.Equal(HttpStatusCode.Created, await Attempt(owner, FeatherTestServer.AdminPassword));

        // Guesses spread over many addresses close the account to addresses it never signed in from...
        for (var i = 0; i < Feather.Server.Auth.LoginThrottle.AccountFailures; i++)
            await Attempt($"203.0.113.{i}", "wrong-password");
        Assert.Equal((HttpStatusCode)429, await Attempt("203.0.113.200", FeatherTestServer.AdminPassword));
        // ...but not to the admin's own.
        Assert.Equal(HttpStatusCode.Created, await Attempt(owner, FeatherTestServer.AdminPassword));
    }

    [Fact]
    public async Task A_read_only_token_revokes_only_itself()
    {
        await _server.UserTokenAsync("fay");
        var full = await _server.LoginAsync("fay", "user-password-1", "read", "run", "publish");
        var readOnly = await _server.LoginAsync("fay", "user-password-1", "read");
        var other = await _server.LoginAsync("fay", "user-password-1", "read");
        using var asFull = _server.Client(full);
        var ids = (await (await asFull.GetAsync("/api/auth/tokens")).Json(HttpStatusCode.OK)).AsArray()
            .Select(t => t!["id"]!.GetValue<string>()).ToList();
        using var asReadOnly = _server.Client(readOnly);
        var readOnlyId = ids[^2];
        var otherId = ids[^1];

        var refused = await asReadOnly.DeleteAsync($"/api/auth/tokens/{otherId}");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("publish scope", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, (await asReadOnly.PostAsync("/api/auth/logout-everywhere", null)).StatusCode);
        using var asOther = _server.Client(other);
        Assert.Equal(HttpStatusCode.OK, (await asOther.GetAsync("/api/me")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await asReadOnly.DeleteAsync($"/api/auth/tokens/{readOnlyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asReadOnly.GetAsync("/api/me")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await asFull.DeleteAsync($"/api/auth/tokens/{otherId}")).StatusCode);
    }

    [Fact]
    public async Task Wrong_password_and_unknown_token_are_401_problems()
    {
        using var client = _server.Client();
        var bad = await client.PostAsJsonAsync("/api/auth/tokens", new { username = "admin", password = "nope-nope" });
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType!.MediaType);
        Assert.Contains("invalid username or password", await bad.Content.ReadAsStringAsync());

        using var forged = _server.Client("ftr_forged");
        var me = await forged.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        // Even calls anonymous visitors may make refuse a bad token rather than ignore it.
        Assert.Equal(HttpStatusCode.Unauthorized, (await forged.GetAsync("/api/models")).StatusCode);
    }

    [Fact]
    public async Task Tokens_are_revoked_by_their_owner_only()
    {
        var alice = await _server.UserTokenAsync("alice");
        var bob = await _server.UserTokenAsync("bob");
        using var aliceClient = _server.Client(alice);
        using var bobClient = _server.Client(bob);
        var aliceTokenId = (await (await aliceClient.GetAsync("/api/auth/tokens")).Json(HttpStatusCode.OK))[0]!["id"]!.GetValue<string>();

        Assert.Equal(HttpStatusCode.NotFound, (await bobClient.DeleteAsync($"/api/auth/tokens/{aliceTokenId}")).StatusCode);
        await (await aliceClient.GetAsync("/api/me")).Json(HttpStatusCode.OK);

        Assert.Equal(HttpStatusCode.NoContent, (await aliceClient.DeleteAsync($"/api/auth/tokens/{aliceTokenId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await aliceClient.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Scopes_limit_what_a_token_can_do()
    {
        await _server.UserTokenAsync("carol");
        var readOnly = await _server.LoginAsync("carol", "user-password-1", "read");
        using var client = _server.Client(readOnly);
        var publish = await client.PostAsJsonAsync("/api/publish", new TestModel().StartBody());
        Assert.Equal(HttpStatusCode.Forbidden, publish.StatusCode);

        var admin = await client.PostAsJsonAsync("/api/auth/tokens", new { username = "carol", password = "user-password-1", scopes = new[] { "admin" } });
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
        var escalate = await client.PostAsJsonAsync("/api/auth/tokens", new { name = "more", scopes = new[] { "publish" } });
        Assert.Equal(HttpStatusCode.Forbidden, escalate.StatusCode);
        var same = await client.PostAsJsonAsync("/api/auth/tokens", new { name = "copy", scopes = new[] { "read" } });
        Assert.Equal(HttpStatusCode.Created, same.StatusCode);
        var unknown = await client.PostAsJsonAsync("/api/auth/tokens", new { username = "carol", password = "user-password-1", scopes = new[] { "root" } });
        Assert.Contains("unknown scope", await unknown.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Only_admins_with_the_admin_scope_create_users()
    {
        var user = await _server.UserTokenAsync("dave");
        using var asUser = _server.Client(user);
        Assert.Equal(HttpStatusCode.Forbidden, (await asUser.PostAsJsonAsync("/api/users", new { username = "eve", password = "password-123" })).StatusCode);

        var adminWithoutScope = await _server.LoginAsync("admin", FeatherTestServer.AdminPassword, "read", "publish");
        using var limited = _server.Client(adminWithoutScope);
        Assert.Equal(HttpStatusCode.Forbidden, (await limited.PostAsJsonAsync("/api/users", new { username = "eve", password = "password-123" })).StatusCode);

        using var anonymous = _server.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/api/users", new { username = "eve", password = "password-123" })).StatusCode);

        using var admin = _server.Client(await _server.AdminTokenAsync());
        var dup = await admin.PostAsJsonAsync("/api/users", new { username = "dave", password = "password-123" });
        Assert.Equal(HttpStatusCode.Conflict, dup.StatusCode);
        var badName = await admin.PostAsJsonAsync("/api/users", new { username = "Eve!", password = "password-123" });
        Assert.Contains("lowercase letters", await badName.Content.ReadAsStringAsync());
    }
}

public class AdminBootstrapTests
{
    [Fact]
    public async Task Without_a_configured_password_the_admin_gets_a_generated_one_and_a_restart_keeps_it()
    {
        var data = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            await using (var first = await FeatherTestServer.StartAsync(new Dictionary<string, string> { ["FEATHER_ADMIN_PASSWORD"] = "" }, dataDirectory: data))
            {
                using var client = first.Client();
                var login = await client.PostAsJsonAsync("/api/auth/tokens", new { username = "admin", password = FeatherTestServer.AdminPassword });
                Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
                var admin = first.Services.GetRequiredService<FeatherDb>().Users.FindById("admin");
                Assert.True(admin.IsAdmin);
                Assert.StartsWith("pbkdf2-sha256$600000$", admin.PasswordHash);
                await first.StopAsync();
            }
            // A second start with a password configured does not replace the existing admin.
            await using var second = await FeatherTestServer.StartAsync(dataDirectory: data);
            using var again = second.Client();
            var retry = await again.PostAsJsonAsync("/api/auth/tokens", new { username = "admin", password = FeatherTestServer.AdminPassword });
            Assert.Equal(HttpStatusCode.Unauthorized, retry.StatusCode);
        }
        finally
        {
            await FeatherTestServer.DeleteDataDirectoryAsync(data);
        }
    }
}

public class BadRequestTests
{
    [Fact]
    public async Task Unreadable_bodies_get_a_problem_that_says_what_is_wrong()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var response = await client.PostAsync("/api/publish", new StringContent("{\"metadata\": {", System.Text.Encoding.UTF8, "application/json"));
        var problem = await response.Json(HttpStatusCode.BadRequest);
        Assert.Contains("not valid JSON", problem["detail"]!.GetValue<string>());

        var wrongType = await client.PostAsync("/api/publish", new StringContent("{\"metadata\": {}, \"files\": 3}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Contains("not valid JSON", (await wrongType.Json(HttpStatusCode.BadRequest))["detail"]!.GetValue<string>());
    }
}

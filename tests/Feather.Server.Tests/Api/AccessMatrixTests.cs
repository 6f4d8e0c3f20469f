using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>One server with a private team model and a public model, reached as four kinds of caller.</summary>
public sealed class AccessMatrixFixture : IAsyncLifetime
{
    public FeatherTestServer Server { get; private set; } = null!;
    public Dictionary<string, HttpClient> Callers { get; } = [];
    public string OwnerRunId { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Server = await FeatherTestServer.StartAsync(services: s =>
        {
            s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
            s.AddSingleton<IStepExecutor>(new TestDoubleStepExecutor());
        });
        Callers["owner"] = Server.Client(await Server.UserTokenAsync("owen"));
        Callers["member"] = Server.Client(await Server.UserTokenAsync("mia"));
        Callers["other"] = Server.Client(await Server.UserTokenAsync("otto"));
        Callers["anonymous"] = Server.Client();
        await Server.UserTokenAsync("nora"); // a user the matrix adds to the team (not one of the callers)
        await (await Callers["owner"].PostAsJsonAsync("/api/teams", new { name = "lab" })).Json(HttpStatusCode.Created);
        await (await Callers["owner"].PostAsJsonAsync("/api/teams/lab/members", new { username = "mia" })).Json(HttpStatusCode.OK);
        await new TestModel { Name = "hidden" }.PublishAsync(Callers["owner"], owner: "lab", visibility: "private");
        await new TestModel { Name = "shown" }.PublishAsync(Callers["owner"], owner: "lab", visibility: "public");
        for (var i = 0; i < 100; i++)
        {
            var v = await Callers["owner"].GetFromJsonAsync<JsonObject>("/api/models/lab/hidden/versions/1");
            var w = await Callers["owner"].GetFromJsonAsync<JsonObject>("/api/models/lab/shown/versions/1");
            if (v!["image"]!["status"]!.GetValue<string>() == "ready" && w!["image"]!["status"]!.GetValue<string>() == "ready") break;
            await Task.Delay(100);
        }
        OwnerRunId = (await (await Callers["owner"].PostAsJsonAsync("/api/models/lab/hidden/runs", new { })).Json(HttpStatusCode.Created))["id"]!.GetValue<string>();
    }

    public async Task DisposeAsync()
    {
        foreach (var c in Callers.Values) c.Dispose();
        await Server.DisposeAsync();
    }
}

public class AccessMatrixTests(AccessMatrixFixture fixture) : IClassFixture<AccessMatrixFixture>
{
    private static readonly string[] Roles = ["owner", "member", "other", "anonymous"];

    /// <summary>(method, path, body, expected status for owner, team member, other user, anonymous).</summary>
    public static TheoryData<string, string, string?, string> Matrix() => new()
    {
        { "GET", "/api/models/lab/hidden", null, "200 200 404 404" },
        { "GET", "/api/models/lab/hidden/versions", null, "200 200 404 404" },
        { "GET", "/api/models/lab/hidden/versions/1", null, "200 200 404 404" },
        { "GET", "/api/models/lab/hidden/openapi.json", null, "200 200 404 404" },
        { "PATCH", "/api/models/lab/hidden", """{"description":"d"}""", "200 200 404 401" },
        { "POST", "/api/models/lab/hidden/live", """{"version":"1"}""", "200 200 404 401" },
        { "POST", "/api/models/lab/hidden/rollback", null, "409 409 404 401" },
        { "PUT", "/api/models/lab/hidden/tags/stable", """{"version":"1"}""", "200 200 404 401" },
        { "POST", "/api/models/lab/hidden/runs", "{}", "201 201 404 404" },
        { "POST", "/api/models/lab/hidden/execute", """{"responses":{"name":{"texts":["x"]}}}""", "202 202 404 404" },
        { "GET", "/api/runs/{ownerRun}", null, "200 404 404 404" },
        { "POST", "/api/runs/{ownerRun}/steps/1", """{"responses":{}}""", "409 404 404 404" },
        { "GET", "/api/models/lab/shown", null, "200 200 200 200" },
        { "GET", "/api/models/lab/shown/versions/1", null, "200 200 200 200" },
        { "PATCH", "/api/models/lab/shown", """{"description":"d"}""", "200 200 403 401" },
        { "POST", "/api/models/lab/shown/live", """{"version":"1"}""", "200 200 403 401" },
        { "PUT", "/api/models/lab/shown/tags/paper", """{"version":"1"}""", "200 200 403 401" },
        { "POST", "/api/models/lab/shown/runs", "{}", "201 201 201 201" },
        { "GET", "/api/teams/lab", null, "200 200 404 401" },
        { "POST", "/api/teams/lab/members", """{"username":"nora"}""", "200 200 404 401" },
        { "GET", "/api/me", null, "200 200 200 401" },
        { "GET", "/api/auth/tokens", null, "200 200 200 401" },
        { "POST", "/api/users", """{"username":"zed","password":"password-123"}""", "403 403 403 401" },
        { "POST", "/api/publish", "{publish}", "201 201 403 401" },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Every_caller_gets_the_right_answer(string method, string path, string? body, string expected)
    {
        var wanted = expected.Split(' ').Select(int.Parse).ToArray();
        var actual = new List<string>();
        for (var i = 0; i < Roles.Length; i++)
        {
            var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{ownerRun}", fixture.OwnerRunId));
            if (body == "{publish}")
                request.Content = JsonContent.Create(new TestModel { Name = "hidden" }.StartBody(owner: "lab"));
            else if (body is not null)
                request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            if (method == "POST" && path.EndsWith("/execute")) request.Headers.Add("Prefer", "wait=0");
            var response = await fixture.Callers[Roles[i]].SendAsync(request);
            actual.Add($"{Roles[i]}={(int)response.StatusCode}");
            if ((int)response.StatusCode >= 400)
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
        Assert.Equal(string.Join(' ', Roles.Select((r, i) => $"{r}={wanted[i]}")), string.Join(' ', actual));
    }
}

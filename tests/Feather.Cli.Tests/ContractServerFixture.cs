using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Feather.Cli.Tests;

/// <summary>
/// TEST FIXTURE, not the Feather server: a real Kestrel server on loopback that implements the
/// docs/contracts.md section 5 routes these tests need, with fixed data, and records what it received.
/// The end-to-end tests against the real server live in tests/Feather.EndToEnd.Tests.
/// </summary>
public sealed class ContractServer : IAsyncDisposable
{
    public const string Token = "tok-alice-123";
    private readonly WebApplication _app;

    public ConcurrentDictionary<string, byte[]> Uploaded { get; } = new();
    public ConcurrentBag<string> Requests { get; } = [];
    public JsonObject? LastPublish { get; private set; }
    public JsonObject? LastTag { get; private set; }
    public List<JsonObject> StepBodies { get; } = [];
    public int FailFirstUploads { get; set; }
    public bool StepOneFails { get; set; }
    private int _uploadAttempts;
    private int _polls;

    public string Url { get; }
    public int UploadAttempts => _uploadAttempts;

    private ContractServer(WebApplication app, string url) { _app = app; Url = url; }

    public static async Task<ContractServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        ContractServer? server = null;
        app.Use(async (context, next) =>
        {
            server!.Requests.Add($"{context.Request.Method} {context.Request.Path}");
            var open = context.Request.Path.StartsWithSegments("/api/auth") || context.Request.Path.StartsWithSegments("/upload")
                       || (context.Request.Path == "/api/models" && context.Request.Method == "GET");
            if (!open && context.Request.Headers.Authorization != $"Bearer {Token}")
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { title = "Unauthorized", status = 401 }, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
                return;
            }
            await next();
        });
        Map(app, () => server!);
        await app.StartAsync();
        server = new ContractServer(app, app.Urls.First());
        return server;
    }

    private static void Map(WebApplication app, Func<ContractServer> self)
    {
        app.MapPost("/api/auth/tokens", async (HttpRequest request) =>
        {
            var body = await Body(request);
            return (string?)body["username"] == "alice" && (string?)body["password"] == "s3cret"
                ? Results.Json(new { id = "t1", token = Token, name = (string?)body["name"], scopes = body["scopes"], createdAt = "2025-01-31T10:00:00Z" }, statusCode: 201)
                : Results.Problem(title: "Invalid credentials", statusCode: 401);
        });
        app.MapGet("/api/me", () => Results.Json(new { username = "alice", isAdmin = true, teams = new[] { "vision-lab" } }));
        app.MapDelete("/api/auth/tokens/{id}", (string id) => id == "t1" ? Results.NoContent() : Results.Problem(title: "No such token", statusCode: 404));

        app.MapPost("/api/publish", async (HttpRequest request) =>
        {
            var body = await Body(request);
            self().LastPublish = body;
            var files = body["files"]!.AsArray();
            // the fixture "already holds" every code file, so only model files are asked for
            var uploads = files.Where(f => (string?)f!["kind"] == "model")
                .Select(f => new { path = (string?)f!["path"], url = $"/upload/{(string?)f!["sha256"]}?sig=abc" }).ToArray();
            var stored = files.Where(f => (string?)f!["kind"] == "code").Select(f => (string?)f!["path"]).ToArray();
            return Results.Json(new { publishId = "p1", owner = "alice", model = (string?)body["metadata"]!["name"], expiresAt = "2099-01-01T00:00:00Z", uploads, alreadyStored = stored }, statusCode: 201);
        });
        app.MapPut("/upload/{sha}", async (string sha, HttpRequest request) =>
        {
            var server = self();
            if (Interlocked.Increment(ref server._uploadAttempts) <= server.FailFirstUploads) return Results.StatusCode(503);
            if (request.Headers.Authorization.Count > 0) return Results.Problem(title: "upload URLs must not carry the bearer token", statusCode: 400);
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            var bytes = buffer.ToArray();
            if (Convert.ToHexStringLower(SHA256.HashData(bytes)) != sha) return Results.Problem(title: "hash mismatch", statusCode: 400);
            server.Uploaded[sha] = bytes;
            return Results.NoContent();
        });
        app.MapPost("/api/publish/{id}/complete", (string id) =>
            Results.Json(new { owner = "alice", model = "hello", version = new { number = 4, createdAt = "2025-01-31T10:00:00Z", imageStatus = "building" }, url = "/models/alice/hello/versions/4" }, statusCode: 201));
        app.MapGet("/api/models/{owner}/{model}/versions/{n}", (int n) =>
            Results.Json(new { number = n, createdAt = "2025-01-31T10:00:00Z", image = new { status = Interlocked.Increment(ref self()._polls) < 2 ? "building" : "ready", log = "" } }));
        app.MapPut("/api/models/{owner}/{model}/tags/{tag}", async (string tag, HttpRequest request) =>
        {
            self().LastTag = await Body(request);
            return Results.Json(new { tag, version = (int?)self().LastTag!["version"] });
        });

        app.MapGet("/api/models", () => Results.Json(new object[]
        {
            new { owner = "alice", name = "hello", description = "Greets you.", liveVersion = 4, visibility = "public", tags = new { task = new[] { "text-generation" } } },
            new { owner = "vision-lab", name = "vqg", description = "Asks questions about images.", liveVersion = (int?)null, visibility = "private", tags = new { } },
        }));
        app.MapGet("/api/models/{owner}/{model}/versions", (string owner, string model) => model == "hello"
            ? Results.Json(new object[] { new { number = 4, live = true, createdAt = "2025-01-31T10:00:00Z", imageStatus = "ready", tags = new[] { "stable" }, notes = "faster" } })
            : Results.Problem(title: "Not found", detail: $"model {owner}/{model} does not exist", statusCode: 404));
        app.MapPost("/api/models/{owner}/{model}/live", (string owner, string model, VersionChoice choice) => Results.Json(new { owner, model, liveVersion = int.Parse(choice.Version, System.Globalization.CultureInfo.InvariantCulture) }));

        app.MapPost("/api/models/{owner}/{model}/runs", async (string owner, string model, HttpRequest request) =>
        {
            var body = await Body(request);
            return Results.Json(new { id = "r1", owner, model, version = (string?)body["version"] ?? "4",
                steps = new[] { new { index = 0, name = "greet", status = "awaiting_input" }, new { index = 1, name = "draw", status = "awaiting_input" } } }, statusCode: 201);
        });
        app.MapPost("/api/runs/{id}/steps/{index:int}", async (int index, HttpRequest request) =>
        {
            var server = self();
            var body = await Body(request);
            lock (server.StepBodies) server.StepBodies.Add(body);
            if (request.Headers["Prefer"] != "wait=120") return Results.Problem(title: "expected Prefer: wait=120", statusCode: 400);
            if (index == 0)
            {
                var name = (string?)body["responses"]!["name"]?["texts"]?[0];
                if (name is null) return Results.Problem(title: "Invalid input", statusCode: 422, extensions: new Dictionary<string, object?> { ["errors"] = new[] { new { step = 0, input = "name", message = "a text is required" } } });
                return Results.Json(Step0($"Hello, {name}"));
            }
            return Results.Json(new { index = 1, status = "running", outputs = (object?)null }, statusCode: 202);
        });
        app.MapGet("/api/runs/{id}", () => Results.Json(new
        {
            id = "r1", owner = "alice", model = "hello", version = "4",
            steps = new object[] { Step0("Hello, Ada"), self().StepOneFails ? Step1Failed() : Step1() },
        }));
    }

    private static object Step0(string greeting) => new
    {
        index = 0, name = "greet", status = "succeeded", startedAt = "2025-01-31T10:00:00Z", endedAt = "2025-01-31T10:00:01.5Z",
        outputs = new[] { new { name = "greeting", component = "Text.View", value = (object)greeting } }, logs = "loaded model\n",
    };

    private static object Step1() => new
    {
        index = 1, name = "draw", status = "succeeded",
        outputs = new[] { new { name = "picture", component = "Image.View", value = (object)new { images = new[] { new { name = "ada.png", media_type = "image/png", data = Convert.ToBase64String(new byte[2048]) } } } } },
        logs = "",
    };

    private static object Step1Failed() => new
    {
        index = 1, name = "draw", status = "failed", outputs = (object?)null,
        error = new { type = "ZeroDivisionError", message = "division by zero", frames = new[] { new { file = "model.py", line = 17, function = "draw", code = "scale = 1 / 0" } } },
        logs = "drawing\n",
    };

    private static async Task<JsonObject> Body(HttpRequest request) =>
        (await JsonNode.ParseAsync(request.Body) as JsonObject) ?? [];

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
public sealed record VersionChoice(string Version);

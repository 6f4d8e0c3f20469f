using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Feather.Server.Tests.Infrastructure;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;

namespace Feather.Server.Tests.Api;

public class OpenApiTests
{
    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln")))
                return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException("Feather.sln not found above the test output folder");
    }

    [Fact]
    public async Task The_committed_docs_openapi_json_matches_the_served_document()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        var served = await (await client.GetAsync("/openapi/v1.json")).Json(HttpStatusCode.OK);
        // The served document names the address it was fetched from; the committed one a relative "/".
        Assert.Equal(server.BaseAddress.ToString().TrimEnd('/'), served["servers"]![0]!["url"]!.GetValue<string>());
        served["servers"] = new JsonArray(new JsonObject { ["url"] = "/" });
        var committedPath = RepoFile("docs/openapi.json");
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(committedPath));
        if (!JsonNode.DeepEquals(served, committed))
        {
            var actual = Path.Combine(Path.GetTempPath(), "feather-openapi.actual.json");
            await File.WriteAllTextAsync(actual, served.ToJsonString(new() { WriteIndented = true }));
            Assert.Fail($"docs/openapi.json differs from /openapi/v1.json; the served document is in {actual} " +
                        "(copy it over docs/openapi.json if the API change is intended)");
        }
        // The document names the calls the CLI relies on (docs/contracts.md section 5).
        var paths = served["paths"]!.AsObject().Select(p => p.Key).ToList();
        foreach (var path in new[] { "/healthz", "/api/auth/tokens", "/api/me", "/api/publish", "/api/publish/{publishId}/complete",
                     "/api/models", "/api/models/{owner}/{model}", "/api/models/{owner}/{model}/runs", "/api/runs/{runId}/steps/{index}", "/api/runs/{runId}" })
            Assert.Contains(path, paths);
    }

    [Fact]
    public void Every_route_the_docs_name_is_in_the_openapi_document()
    {
        // "POST /api/runs/{id}/cancel" in a guide, when the server cancels with DELETE …/steps/{k}, is
        // how the docs drifted from the code: each "METHOD /api/…" in docs/*.md must be a real operation.
        var document = JsonNode.Parse(File.ReadAllText(RepoFile("docs/openapi.json")))!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(o => (Method: o.Key.ToUpperInvariant(), Segments: p.Key.Split('/')))).ToList();
        bool Exists(string method, string path)
        {
            var segments = path.Split('/');
            return operations.Any(o => o.Method == method && o.Segments.Length == segments.Length &&
                o.Segments.Zip(segments).All(p => p.First == p.Second || p.First.StartsWith('{') || p.Second.StartsWith('{')));
        }
        var named = 0;
        var missing = new List<string>();
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(RepoFile("docs/openapi.json"))!, "*.md").Order())
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
                foreach (Match m in Regex.Matches(lines[i], @"\b(GET|POST|PUT|PATCH|DELETE) (/api/[A-Za-z0-9_{}./:-]*)"))
                {
                    named++;
                    var path = m.Groups[2].Value.TrimEnd('.', ':');
                    if (!Exists(m.Groups[1].Value, path)) missing.Add($"{Path.GetFileName(file)}:{i + 1}: {m.Groups[1].Value} {path}");
                }
        }
        Assert.True(named > 20, $"only {named} routes found in docs/*.md: is the pattern still right?");
        Assert.True(missing.Count == 0, "the docs name routes the server does not have:\n" + string.Join("\n", missing));
    }

    [Fact]
    public async Task Every_version_has_a_valid_openapi_3_document_generated_from_its_metadata()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel
        {
            Customize = m => m["steps"]![0]!["inputs"]![0]!["schema"] = JsonNode.Parse("""
                {"value": null, "response": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["texts"],
                 "properties": {"texts": {"type": "array", "items": {"type": ["string", "null"], "maxLength": 256}, "minItems": 1},
                                "mode": {"const": "plain"}, "score": {"type": "number", "exclusiveMinimum": 0}},
                 "example": {"texts": ["Ada"]}}}
                """),
        };
        await model.PublishAsync(client, visibility: "public");
        await model.PublishAsync(client);

        var text = await client.GetStringAsync("/api/models/admin/hello/openapi.json?version=1");
        // A real OpenAPI reader and validator (Microsoft.OpenApi) must accept the document.
        var read = OpenApiDocument.Parse(text, "json", new OpenApiReaderSettings());
        Assert.Empty(read.Diagnostic!.Errors.Select(e => $"{e.Pointer}: {e.Message}"));
        var document = read.Document!;
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet())!.Select(e => $"{e.Pointer}: {e.Message}"));

        var json = JsonNode.Parse(text)!;
        Assert.Equal("3.0.3", json["openapi"]!.GetValue<string>());
        Assert.Equal("admin/hello", document.Info.Title);
        Assert.Equal("1", document.Info.Version);
        Assert.Equal(["/api/models/admin/hello/runs", "/api/runs/{runId}", "/api/runs/{runId}/steps/0", "/api/runs/{runId}/steps/1"],
            document.Paths.Keys.Order());
        var step0 = document.Paths["/api/runs/{runId}/steps/0"].Operations![HttpMethod.Post];
        Assert.Equal("step0Greet", step0.OperationId);
        var input = document.Components!.Schemas!["Step0GreetInputName"];
        Assert.Equal(JsonSchemaType.Array, input.Properties!["texts"].Type);
        Assert.True(input.Properties["texts"].Items!.Type!.Value.HasFlag(JsonSchemaType.Null));
        Assert.Equal(256, input.Properties["texts"].Items!.MaxLength);
        Assert.Contains("bearer", document.Components.SecuritySchemes!.Keys);
        Assert.Equal("Ada", json["paths"]!["/api/runs/{runId}/steps/0"]!["post"]!["requestBody"]!["content"]!["application/json"]!["example"]!["responses"]!["name"]!["texts"]![0]!.GetValue<string>());
        Assert.Equal("plain", json["components"]!["schemas"]!["Step0GreetInputName"]!["properties"]!["mode"]!["enum"]![0]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/models/admin/hello/openapi.json?version=9")).StatusCode);
        using var anonymous = server.Client();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/models/admin/hello/openapi.json")).StatusCode);
    }
}

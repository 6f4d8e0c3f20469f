using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>
/// The served OpenAPI documents pass an outside linter: Redocly CLI (pinned in tools/package.json,
/// installed into tools/node_modules by test.sh / scripts/setup.sh <c>ensure_node_tools</c>) with its
/// <c>recommended</c> rules. Any error fails; warnings are allowed (docs/api.md lists the ones left).
/// </summary>
public class OpenApiLintTests
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException("Feather.sln not found above the test output folder");
    }

    /// <summary>Runs <c>redocly lint --extends recommended</c> on a document and returns its exit code and output.</summary>
    internal static async Task<(int ExitCode, string Output)> LintAsync(string documentJson, string name)
    {
        var redocly = Path.Combine(RepoRoot(), "tools", "node_modules", ".bin", "redocly");
        Assert.True(File.Exists(redocly),
            $"{redocly} is missing: run `source scripts/setup.sh && ensure_node_tools` (npm ci in tools/)");
        var dir = Directory.CreateTempSubdirectory("feather-lint-");
        try
        {
            var file = Path.Combine(dir.FullName, name);
            await File.WriteAllTextAsync(file, documentJson);
            var start = new ProcessStartInfo(redocly)
            {
                ArgumentList = { "lint", "--extends", "recommended", "--format", "stylish", "--max-problems", "1000", file },
                RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.FullName,
            };
            start.Environment["REDOCLY_TELEMETRY"] = "off";
            start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
            start.Environment["NO_COLOR"] = "1";
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout + await stderr);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_served_openapi_document_passes_redocly_recommended_rules()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        var text = await client.GetStringAsync("/openapi/v1.json");

        var (exitCode, output) = await LintAsync(text, "feather.json");
        Assert.True(exitCode == 0, $"redocly lint found errors in /openapi/v1.json:\n{output}");

        // The served document names the server it was fetched from, so a reader can try calls out.
        var document = JsonNode.Parse(text)!;
        Assert.Equal(server.BaseAddress.ToString().TrimEnd('/'), document["servers"]![0]!["url"]!.GetValue<string>());
        var operations = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(o => (Path: p.Key, Method: o.Key, Operation: o.Value!))).ToList();
        Assert.NotEmpty(operations);
        foreach (var (path, method, operation) in operations)
        {
            Assert.False(string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()), $"{method} {path} has no summary");
            Assert.False(string.IsNullOrWhiteSpace(operation["operationId"]?.GetValue<string>()), $"{method} {path} has no operationId");
        }
    }

    [Fact]
    public async Task A_model_versions_openapi_document_passes_redocly_recommended_rules()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        await new TestModel().PublishAsync(client, visibility: "public");

        using var response = await client.GetAsync("/api/models/admin/hello/openapi.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (exitCode, output) = await LintAsync(await response.Content.ReadAsStringAsync(), "hello.json");
        Assert.True(exitCode == 0, $"redocly lint found errors in /api/models/admin/hello/openapi.json:\n{output}");
    }

    [Fact]
    public async Task A_graph_models_openapi_document_passes_redocly_recommended_rules()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        await GraphRunsTests.GraphModel().PublishAsync(client, visibility: "public");

        using var response = await client.GetAsync("/api/models/admin/graph/openapi.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (exitCode, output) = await LintAsync(await response.Content.ReadAsStringAsync(), "graph.json");
        Assert.True(exitCode == 0, $"redocly lint found errors in /api/models/admin/graph/openapi.json:\n{output}");
    }
}

using System.Text.Json.Nodes;
using Feather.Server.Models;

namespace Feather.Server.Tests.Unit;

/// <summary>A model's OpenAPI document takes its request examples from the response schemas the SDK emits.</summary>
public class ResponseSchemaOpenApiTests
{
    [Fact]
    public void The_schemas_first_example_becomes_the_openapi_example()
    {
        var fixture = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoRoot(), "tests", "python", "snapshots", "response-schemas.json")))!;
        var schema = fixture["select_multi_min"]!["schema"]!["response"]!.AsObject();
        var sanitized = ModelOpenApi.Sanitize(schema);
        Assert.Equal("""{"selected":[0,1]}""", sanitized["example"]!.ToJsonString());
        Assert.Null(sanitized["examples"]);
        Assert.Equal(2, sanitized["properties"]!["selected"]!["minItems"]!.GetValue<int>());
        // an example already written in OpenAPI's form wins
        var own = ModelOpenApi.Sanitize(new JsonObject { ["example"] = 1, ["examples"] = new JsonArray(2) });
        Assert.Equal(1, own["example"]!.GetValue<int>());
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln")))
                return dir.FullName;
        throw new FileNotFoundException("Feather.sln not found above the test output folder");
    }
}

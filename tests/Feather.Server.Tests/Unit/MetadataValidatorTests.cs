using System.Text.Json;
using Feather.Server.Publishing;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Unit;

public class MetadataValidatorTests
{
    // A stand-in with the shape of the SDK's schema (python-sdk/feather/schema/metadata.schema.json),
    // used to exercise the JSON Schema path independently of that file.
    private const string Schema = """
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "https://feather.example/metadata.schema.json",
          "type": "object",
          "required": ["schema_version", "name", "steps"],
          "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "steps": {"type": "array", "items": {"type": "object", "required": ["name", "inputs", "outputs"],
                      "properties": {"title": {"type": "string", "maxLength": 10}}}}
          }
        }
        """;

    [Fact]
    public void The_minimal_contract_document_is_valid_with_and_without_a_schema()
    {
        var metadata = JsonDocument.Parse(new TestModel().Metadata().ToJsonString()).RootElement;
        Assert.Empty(new MetadataValidator(Schema).Validate(metadata));
        Assert.Empty(new MetadataValidator((string?)null).Validate(metadata));
    }

    [Fact]
    public void Schema_errors_are_keyed_by_the_path_of_the_bad_value()
    {
        var node = new TestModel().Metadata();
        node["steps"]![1]!["title"] = "A title that is far too long";
        var errors = new MetadataValidator(Schema).Validate(JsonDocument.Parse(node.ToJsonString()).RootElement);
        Assert.Contains("metadata/steps/1/title", errors.Keys);
        // Built twice in one process (as every test server does) without clashing.
        Assert.NotEmpty(new MetadataValidator(Schema).Validate(JsonDocument.Parse(node.ToJsonString()).RootElement));
    }

    [Fact]
    public void The_servers_own_checks_name_each_field()
    {
        var errors = new MetadataValidator((string?)null).Validate(JsonDocument.Parse("""{"schema_version": 3, "steps": []}""").RootElement);
        foreach (var key in new[] { "metadata/schema_version", "metadata/name", "metadata/entrypoint", "metadata/profile",
                     "metadata/environment", "metadata/bundle", "metadata/steps" })
            Assert.Contains(key, errors.Keys);
        Assert.Contains("metadata", new MetadataValidator((string?)null).Validate(JsonDocument.Parse("[]").RootElement).Keys);
    }
}

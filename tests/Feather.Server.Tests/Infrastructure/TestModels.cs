using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Feather.Server.Tests.Infrastructure;

/// <summary>A model's files and metadata shaped like docs/contracts.md section 1, and a publishing client.</summary>
public sealed class TestModel
{
    public string Name { get; init; } = "hello";
    public Dictionary<string, byte[]> Files { get; init; } = new()
    {
        ["model.py"] = Encoding.UTF8.GetBytes("import feather as ftr\n# greets you\n"),
        ["weights.bin"] = Encoding.UTF8.GetBytes(new string('w', 5000)),
    };
    public string Description { get; init; } = "Greets you.";
    public string Task { get; init; } = "text-generation";

    /// <summary>Changes made to the metadata before it is sent.</summary>
    public Action<JsonObject>? Customize { get; init; }

    public JsonObject Metadata()
    {
        var metadata = BaseMetadata();
        Customize?.Invoke(metadata);
        return metadata;
    }

    /// <summary>The response schema the SDK emits for Text.In() (one text of at most 256 characters).</summary>
    public const string TextInSchema = """{"type": "object", "required": ["texts"], "additionalProperties": false, "properties": {"texts": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "string", "maxLength": 256}}}}""";

    /// <summary>List.SelectOne's response shape, as the metadata gives it for a later step's input.</summary>
    public const string SelectOneShape = """{"type": "object", "required": ["selected"], "additionalProperties": false, "properties": {"selected": {"type": "integer", "minimum": 0}}}""";

    private JsonObject BaseMetadata() => JsonNode.Parse($$$"""
        {
          "schema_version": 1,
          "name": "{{{Name}}}",
          "description": "{{{Description}}}",
          "entrypoint": "model.py",
          "tags": {"task": ["{{{Task}}}"], "dataset": ["greetings"]},
          "profile": "low",
          "environment": {"python": "3.11", "python_packages": [], "system_packages": []},
          "bundle": {"code": ["model.py"], "model": ["weights.bin"]},
          "num_steps": 2,
          "init": [{"name": "name", "component": "Text.In", "version": 1, "interactive": true, "props": {"max_chars": 256}, "schema": {"value": null, "response": {{{TextInSchema}}}}}],
          "steps": [
            {"name": "greet", "title": "Greet", "description": "",
             "inputs": [{"name": "name", "component": "Text.In", "version": 1, "interactive": true, "props": {"max_chars": 256}, "schema": {"value": null, "response": {{{TextInSchema}}}}}],
             "outputs": [{"name": "choices", "component": "List.SelectOne", "version": 1, "interactive": true, "props": {}, "schema": {"value": null, "response": {{{SelectOneShape}}}}}]},
            {"name": "answer", "title": "Answer", "description": "",
             "inputs": [{"name": "choices", "component": "List.SelectOne", "version": 1, "interactive": true, "props": {}, "schema": {"value": null, "response": {{{SelectOneShape}}}}}],
             "outputs": [{"name": "greeting", "component": "Text.View", "version": 1, "props": {}, "schema": {"value": null, "response": null}}]}
          ],
          "final_outputs": [{"name": "greeting", "component": "Text.View", "version": 1, "props": {}, "schema": {"value": null, "response": null}}]
        }
        """)!.AsObject();

    public JsonArray Manifest() => new(Files.Select(f => (JsonNode)new JsonObject
    {
        ["path"] = f.Key, ["size"] = f.Value.Length, ["sha256"] = Http.Sha256(f.Value),
        ["kind"] = f.Key.EndsWith(".py") ? "code" : "model",
    }).ToArray());

    public JsonObject StartBody(string? owner = null, string? visibility = null) => new()
    {
        ["owner"] = owner, ["metadata"] = Metadata(), ["files"] = Manifest(), ["notes"] = "test publish", ["visibility"] = visibility,
    };

    /// <summary>start → upload every requested file → complete; returns the complete answer.</summary>
    public async Task<JsonNode> PublishAsync(HttpClient client, string? owner = null, string? visibility = null)
    {
        var start = await (await client.PostAsJsonAsync("/api/publish", StartBody(owner, visibility))).Json(HttpStatusCode.Created);
        await UploadAllAsync(client, start);
        return await (await client.PostAsync($"/api/publish/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
    }

    public async Task UploadAllAsync(HttpClient client, JsonNode start)
    {
        using var anonymous = new HttpClient();
        foreach (var upload in start["uploads"]!.AsArray())
        {
            var content = new ByteArrayContent(Files[upload!["path"]!.GetValue<string>()]);
            content.Headers.ContentType = new("application/octet-stream");
            var response = await anonymous.PutAsync(upload["url"]!.GetValue<string>(), content);
            await response.Json(HttpStatusCode.NoContent);
        }
    }
}

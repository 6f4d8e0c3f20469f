using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Runs;

/// <summary>The inputs file of contracts.md section 2: <c>{"steps": [{input: response, ...}, ...]}</c>.</summary>
public static class InputsFile
{
    public static IReadOnlyList<JsonObject> Load(string path)
    {
        if (!File.Exists(path))
            throw new CliException(ExitCodes.Usage, $"inputs file {path} does not exist", "give the path of a JSON file like {\"steps\": [{\"name\": {\"texts\": [\"Ada\"]}}]}");
        return Parse(File.ReadAllText(path), path);
    }

    public static IReadOnlyList<JsonObject> Parse(string text, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw Invalid(source, $"it is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message.Split(" Path:")[0]})");
        }
        if (root is not JsonObject obj)
            throw Invalid(source, "the top level must be an object with a \"steps\" list");
        var unknown = obj.Select(p => p.Key).Where(k => k != "steps").ToList();
        if (unknown.Count > 0)
            throw Invalid(source, $"unknown top-level key(s) {string.Join(", ", unknown.Select(k => $"\"{k}\""))}; only \"steps\" is allowed");
        if (obj["steps"] is not JsonArray steps)
            throw Invalid(source, "\"steps\" is missing or not a list");
        var result = new List<JsonObject>();
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i] is not JsonObject step)
                throw Invalid(source, $"steps[{i}] must be an object mapping input names to responses, not {steps[i]?.GetValueKind().ToString().ToLowerInvariant() ?? "null"}");
            result.Add((JsonObject)step.DeepClone());
        }
        return result;
    }

    private static CliException Invalid(string source, string why) =>
        new(ExitCodes.ValidationFailed, $"inputs file {source} is invalid: {why}",
            "see docs/cli.md: {\"steps\": [{\"INPUT\": RESPONSE, ...}, ...]}, one object per step");
}

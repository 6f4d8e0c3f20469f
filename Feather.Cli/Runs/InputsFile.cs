using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Runs;

/// <summary>One step of an inputs file: the step to run there, by name (null: the one the model offers first), and its responses.</summary>
public sealed record InputsEntry(string? Step, JsonObject Responses);

/// <summary>
/// The inputs file of contracts.md section 2: <c>{"steps": [{input: response, ...}, ...]}</c>, one object per step in order, or,
/// naming the step at each point of the run's path (a model with branches and loops),
/// <c>{"path": [{"step": NAME, "responses": {input: response, ...}}, ...]}</c>.
/// </summary>
public static class InputsFile
{
    public static IReadOnlyList<InputsEntry> Load(string path)
    {
        if (!File.Exists(path))
            throw new CliException(ExitCodes.Usage, $"inputs file {path} does not exist", "give the path of a JSON file like {\"steps\": [{\"name\": {\"texts\": [\"Ada\"]}}]}");
        return ParseEntries(File.ReadAllText(path), path);
    }

    /// <summary>The responses of each step, in order (either form).</summary>
    public static IReadOnlyList<JsonObject> Parse(string text, string source) =>
        ParseEntries(text, source).Select(e => e.Responses).ToList();

    public static IReadOnlyList<InputsEntry> ParseEntries(string text, string source)
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
        var unknown = obj.Select(p => p.Key).Where(k => k is not ("steps" or "path")).ToList();
        if (unknown.Count > 0)
            throw Invalid(source, $"unknown top-level key(s) {string.Join(", ", unknown.Select(k => $"\"{k}\""))}; only \"steps\" or \"path\" is allowed");
        if (obj.ContainsKey("path"))
            return ParsePath(obj, source);
        if (obj["steps"] is not JsonArray steps)
            throw Invalid(source, "\"steps\" is missing or not a list");
        var result = new List<InputsEntry>();
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i] is not JsonObject step)
                throw Invalid(source, $"steps[{i}] must be an object mapping input names to responses, not {steps[i]?.GetValueKind().ToString().ToLowerInvariant() ?? "null"}");
            result.Add(new InputsEntry(null, (JsonObject)step.DeepClone()));
        }
        return result;
    }

    private static List<InputsEntry> ParsePath(JsonObject obj, string source)
    {
        if (obj.ContainsKey("steps"))
            throw Invalid(source, "give \"steps\" or \"path\", not both");
        if (obj["path"] is not JsonArray path)
            throw Invalid(source, "\"path\" must be a list of {\"step\": NAME, \"responses\": {...}}");
        var result = new List<InputsEntry>();
        for (var i = 0; i < path.Count; i++)
        {
            if (path[i] is not JsonObject entry || entry["step"] is not JsonValue name || name.GetValueKind() != JsonValueKind.String)
                throw Invalid(source, $"path[{i}] must be an object with the step's name: {{\"step\": NAME, \"responses\": {{...}}}}");
            if (entry["responses"] is not (null or JsonObject))
                throw Invalid(source, $"path[{i}].responses must be an object mapping input names to responses");
            result.Add(new InputsEntry(name.GetValue<string>(), (JsonObject?)entry["responses"]?.DeepClone() ?? []));
        }
        return result;
    }

    private static CliException Invalid(string source, string why) =>
        new(ExitCodes.ValidationFailed, $"inputs file {source} is invalid: {why}",
            "see docs/cli.md: {\"steps\": [{\"INPUT\": RESPONSE, ...}, ...]}, one object per step, or {\"path\": [{\"step\": NAME, \"responses\": {...}}, ...]}");
}

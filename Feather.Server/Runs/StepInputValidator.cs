using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Runs;

/// <summary>One thing wrong with a step's responses: the input it concerns and what is wrong.</summary>
public sealed record StepInputError(string Input, string Message);

/// <summary>
/// Checks a step's <c>responses</c> on the server, before any container starts, the way the SDK's
/// components check them in the runtime (python-sdk/feather: <c>component.py</c>, <c>file.py</c>,
/// <c>text.py</c>, <c>list.py</c>, <c>image.py</c>, <c>document.py</c>, <c>runtime.py</c>):
/// the same response shapes and the same messages, naming the file, item or limit that is wrong.
/// Step 0 is checked against the metadata's <c>init</c> components; step k &gt; 0 against what
/// step k-1 actually offered (its stored outputs, props and values), so a selection of an item
/// that was never offered, or too many items, is refused. The runtime checks again.
/// </summary>
public static class StepInputValidator
{
    /// <summary>Component ids that take a response (the SDK's interactive components).</summary>
    public static readonly IReadOnlySet<string> Interactive = new HashSet<string>
    {
        "File.Upload", "Text.In", "List.SelectOne", "List.SelectMulti",
        "Image.WithSelectOne", "Image.WithSelectMulti", "Image.WithTextIn", "Document.WithTextIn",
    };

    /// <param name="metadata">The version's metadata document.</param>
    /// <param name="step">The step's index.</param>
    /// <param name="responses">The client's responses (an object keyed by input name).</param>
    /// <param name="previousOutputs">Step k-1's stored outputs array (null for step 0).</param>
    /// <param name="maxFileBytes">The largest file a File.Upload may carry, decoded (null: no limit).</param>
    public static IReadOnlyList<StepInputError> Validate(JsonElement metadata, int step, JsonElement responses,
        JsonElement? previousOutputs, long? maxFileBytes = null)
    {
        var errors = new List<StepInputError>();
        var stepMeta = metadata.GetProperty("steps")[step];
        var stepName = stepMeta.GetProperty("name").GetString();
        if (responses.ValueKind != JsonValueKind.Object)
            return [new StepInputError("", $"'responses' must be an object keyed by input name, got {Py.TypeName(responses)}")];

        // The components this step's inputs are bound to: init()'s for step 0, step k-1's outputs after.
        var offered = new List<(string Name, string Component, JsonElement Props, JsonElement? Value)>();
        if (step == 0)
        {
            if (metadata.TryGetProperty("init", out var init) && init.ValueKind == JsonValueKind.Array)
                foreach (var c in init.EnumerateArray())
                    offered.Add((Str(c, "name"), Str(c, "component"), Prop(c, "props"), Opt(c, "value")));
        }
        else
        {
            var byName = new Dictionary<string, JsonElement>();
            if (previousOutputs is { ValueKind: JsonValueKind.Array } outputs)
                foreach (var o in outputs.EnumerateArray())
                    if (o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
                        byName.TryAdd(n.GetString()!, o);
            foreach (var input in stepMeta.GetProperty("inputs").EnumerateArray())
            {
                var name = Str(input, "name");
                var declared = Str(input, "component");
                if (!Interactive.Contains(declared)) continue;
                if (!byName.TryGetValue(name, out var output))
                {
                    errors.Add(new(name, $"step {step - 1} offered no output named '{name}' ({declared}); run step {step - 1} again"));
                    continue;
                }
                if (Str(output, "component") != declared)
                {
                    errors.Add(new(name, $"step {step - 1} offered a {Str(output, "component")} as '{name}', the model declares {declared}"));
                    continue;
                }
                offered.Add((name, declared, Prop(output, "props"), Opt(output, "value")));
            }
        }

        var takes = offered.Where(o => Interactive.Contains(o.Component)).ToList();
        var takeNames = takes.Select(t => t.Name).ToHashSet();
        foreach (var property in responses.EnumerateObject())
            if (!takeNames.Contains(property.Name) && errors.All(e => e.Input != property.Name))
                errors.Add(new(property.Name, $"step '{stepName}' has no input '{property.Name}' that takes a response" +
                    (takes.Count > 0 ? $" (inputs that do: {string.Join(", ", takes.Select(t => t.Name))})" : " (it takes none)")));
        foreach (var (name, component, props, value) in takes)
        {
            if (!responses.TryGetProperty(name, out var response))
            {
                errors.Add(new(name, $"missing response for input '{name}' ({component})"));
                continue;
            }
            try
            {
                ComponentChecks.Check(component, props, value, response, maxFileBytes);
            }
            catch (InvalidResponse e)
            {
                errors.Add(new(name, e.Message));
            }
        }
        return errors;
    }

    /// <summary>
    /// <see cref="Validate"/> as the answer to the client: null when the responses are fine, else a
    /// 400 problem with <c>errors</c> keyed <c>steps/{k}/{input}</c> and the first one's <c>step</c> and <c>input</c>.
    /// </summary>
    public static ProblemHttpResult? Problem(JsonElement metadata, int step, JsonElement responses, string? previousOutputsJson,
        long? maxFileBytes = null)
    {
        using var previous = previousOutputsJson is null ? null : JsonDocument.Parse(previousOutputsJson);
        var errors = Validate(metadata, step, responses, previous?.RootElement, maxFileBytes);
        if (errors.Count == 0) return null;
        var stepName = metadata.GetProperty("steps")[step].GetProperty("name").GetString();
        var first = errors[0];
        var detail = errors.Count == 1
            ? $"step {step} ({stepName}), input '{first.Input}': {first.Message}"
            : $"step {step} ({stepName}): {errors.Count} inputs are invalid; " +
              string.Join("; ", errors.Select(e => $"'{e.Input}': {e.Message}"));
        return TypedResults.Problem(detail: detail, statusCode: 400, title: "Invalid step input", extensions: new Dictionary<string, object?>
        {
            ["step"] = step,
            ["input"] = first.Input,
            ["errors"] = errors.GroupBy(e => $"steps/{step}/{e.Input}").ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()),
        });
    }

    private static string Str(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static JsonElement Prop(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Object ? v : EmptyObject;

    private static JsonElement? Opt(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();
}

/// <summary>A response that does not fit its component (the SDK's PayloadError).</summary>
public sealed class InvalidResponse(string message) : Exception(message);

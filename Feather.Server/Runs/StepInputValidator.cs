using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feather.Server.Runs;

/// <summary>One thing wrong with a step's responses: the input it concerns and what is wrong.</summary>
public sealed record StepInputError(string Input, string Message);

/// <summary>
/// Checks a step's <c>responses</c> on the server, before any container starts, against the JSON
/// Schemas the SDK's components emit (docs/contracts.md §1, "Response schemas"): no component's rules are written
/// here. Step 0's inputs carry their schema in the metadata (<c>init[i].schema.response</c>); step
/// k &gt; 0's in what step k-1 actually offered (its stored outputs' <c>schema.response</c>), so a
/// selection of an item that was never offered, or too many items, is refused. One rule is the
/// server's own: a string the schema marks <c>contentEncoding: base64</c> may decode to at most
/// <c>FEATHER_MAX_FILE_BYTES</c>. An input whose schema is absent (a run from an SDK before schemas
/// travelled with outputs) is only checked for presence here. The runtime checks again.
/// </summary>
public static class StepInputValidator
{
    /// <param name="metadata">The version's metadata document.</param>
    /// <param name="step">The step's index.</param>
    /// <param name="responses">The client's responses (an object keyed by input name).</param>
    /// <param name="previousOutputs">Step k-1's stored outputs array (null for step 0).</param>
    /// <param name="maxFileBytes">The most bytes a base64 string in a response may decode to (null: no limit).</param>
    /// <param name="fromInit">The step's inputs are init()'s (the first position of the path); default: step 0.</param>
    public static IReadOnlyList<StepInputError> Validate(JsonElement metadata, int step, JsonElement responses,
        JsonElement? previousOutputs, long? maxFileBytes = null, bool? fromInit = null)
    {
        var errors = new List<StepInputError>();
        var stepMeta = metadata.GetProperty("steps")[step];
        var stepName = stepMeta.GetProperty("name").GetString();
        if (responses.ValueKind != JsonValueKind.Object)
            return [new StepInputError("", $"'responses' must be an object keyed by input name, got {Kind(responses)}")];

        // The inputs that take a response, each with the schema of what it offered: init()'s for step 0, step k-1's outputs after.
        var takes = new List<(string Name, string Component, JsonElement? Schema)>();
        if (fromInit ?? step == 0)
        {
            if (metadata.TryGetProperty("init", out var init) && init.ValueKind == JsonValueKind.Array)
                foreach (var c in init.EnumerateArray().Where(Interactive))
                    takes.Add((Str(c, "name"), Str(c, "component"), ResponseSchema(c)));
        }
        else
        {
            var byName = new Dictionary<string, JsonElement>();
            if (previousOutputs is { ValueKind: JsonValueKind.Array } outputs)
                foreach (var o in outputs.EnumerateArray())
                    if (o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
                        byName.TryAdd(n.GetString()!, o);
            foreach (var input in stepMeta.GetProperty("inputs").EnumerateArray().Where(Interactive))
            {
                var name = Str(input, "name");
                var declared = Str(input, "component");
                if (!byName.TryGetValue(name, out var output))
                    errors.Add(new(name, $"the step before offered no output named '{name}' ({declared}); run it again"));
                else if (Str(output, "component") != declared)
                    errors.Add(new(name, $"the step before offered a {Str(output, "component")} as '{name}', the model declares {declared}"));
                else
                {
                    takes.Add((name, declared, ResponseSchema(output)));
                    continue;
                }
                takes.Add((name, declared, null));
            }
        }

        var takeNames = takes.Select(t => t.Name).ToHashSet();
        foreach (var property in responses.EnumerateObject())
            if (!takeNames.Contains(property.Name))
                errors.Add(new(property.Name, $"step '{stepName}' has no input '{property.Name}' that takes a response" +
                    (takes.Count > 0 ? $" (inputs that do: {string.Join(", ", takes.Select(t => t.Name))})" : " (it takes none)")));
        foreach (var (name, component, schema) in takes)
        {
            if (errors.Any(e => e.Input == name)) continue;
            if (!responses.TryGetProperty(name, out var response))
                errors.Add(new(name, $"missing response for input '{name}' ({component})"));
            else if (schema is { } s)
                errors.AddRange(Check(s, response, maxFileBytes).Select(message => new StepInputError(name, message)));
        }
        return errors;
    }

    /// <summary>
    /// One response against its schema: every violation as "where: what", where is the response's
    /// part (<c>selected[1]</c>, <c>files[0].name</c>) and what is the evaluator's message, followed by
    /// the schema's own <c>description</c> of that part when it has one.
    /// </summary>
    public static IReadOnlyList<string> Check(JsonElement schema, JsonElement response, long? maxFileBytes)
    {
        // The schema comes from the model (its metadata, its last step's outputs): it may not choose
        // another dialect (whose pattern would run without a time limit), and arrays are measured
        // before the evaluator, which spends time on every item, sees them.
        if (Declares(schema, ["$schema", "$id", "$dynamicAnchor"]) is { } declared)
            return [$"the response schema offered for this input declares {declared}, which the server does not accept; the model's SDK never writes it"];
        var oversized = new List<string>();
        Oversized(schema, response, "", oversized);
        if (oversized.Count > 0) return oversized;
        EvaluationResults result;
        try
        {
            var compiled = JsonSchema.FromText(schema.GetRawText(), new BuildOptions { SchemaRegistry = new SchemaRegistry(), Dialect = Dialect });
            result = compiled.Evaluate(response, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (RegexMatchTimeoutException)
        {
            return [$"a pattern of the response schema took longer than {PatternTimeout.TotalMilliseconds} ms on this response"];
        }
        catch (Exception e) when (e is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or RefResolutionException)
        {
            return [$"the response schema offered for this input is not usable: {e.Message}"];
        }
        var messages = new List<string>();
        if (!result.IsValid)
        {
            foreach (var detail in result.Details ?? [])
                foreach (var (keyword, message) in detail.Errors ?? new Dictionary<string, string>())
                {
                    var location = detail.InstanceLocation.ToString();
                    var segments = Segments(location).ToList();
                    if (keyword.Length == 0 && segments.Count > 0)
                    {
                        // A false schema: a field additionalProperties does not allow, or an item past prefixItems.
                        var parent = Where("/" + string.Join('/', segments[..^1]));
                        messages.Add(int.TryParse(segments[^1], NumberStyles.None, CultureInfo.InvariantCulture, out _)
                            ? $"{Where(location)}: no item allowed here"
                            : $"{parent}: unknown field '{segments[^1]}'");
                        continue;
                    }
                    var description = SchemaAt(schema, segments) is { ValueKind: JsonValueKind.Object } node &&
                                      node.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String
                        ? $" (expected {d.GetString()})" : "";
                    messages.Add($"{Where(location)}: {message}{description}");
                }
            if (messages.Count == 0) messages.Add("does not match its schema");
            return messages.Distinct().ToList();
        }
        if (maxFileBytes is { } limit)
            foreach (var detail in result.Details ?? [])
                if (detail.Annotations is { } annotations && annotations.TryGetValue("contentEncoding", out var encoding) &&
                    encoding.ValueKind == JsonValueKind.String && encoding.GetString() == "base64" &&
                    Resolve(response, detail.InstanceLocation.ToString()) is { ValueKind: JsonValueKind.String } data)
                {
                    var size = Base64Size(data.GetString()!);
                    if (size > limit)
                    {
                        var location = detail.InstanceLocation.ToString();
                        var parent = Resolve(response, location[..Math.Max(0, location.LastIndexOf('/'))]);
                        var named = parent is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty("name", out var n) &&
                                    n.ValueKind == JsonValueKind.String ? $" ({n.GetString()})" : "";
                        messages.Add($"{Where(location)}{named}: {Bytes(size)}, at most {Bytes(limit)} allowed");
                    }
                }
        return messages.Distinct().ToList();
    }

    /// <summary>How long one <c>pattern</c> may take on one string.</summary>
    public static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>The most items the server checks in an array whose schema sets no <c>maxItems</c>.</summary>
    public const int UnboundedArrayLimit = 10_000;

    /// <summary>Draft 2020-12 with <c>pattern</c> under a time limit (the evaluator's own has none).</summary>
    private static readonly Dialect Dialect = Dialect.Draft202012.With([new TimedPatternKeyword()]);

    private sealed class TimedPatternKeyword : Json.Schema.Keywords.PatternKeyword
    {
        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.String
                ? new Regex(value.GetString()!, RegexOptions.ECMAScript, PatternTimeout)
                : base.ValidateKeywordValue(value);
    }

    /// <summary>The first of <paramref name="keywords"/> used anywhere in the schema, or null.</summary>
    private static string? Declares(JsonElement node, string[] keywords) => node.ValueKind switch
    {
        JsonValueKind.Object => node.EnumerateObject().Select(p => keywords.Contains(p.Name) ? p.Name : Declares(p.Value, keywords))
            .FirstOrDefault(k => k is not null),
        JsonValueKind.Array => node.EnumerateArray().Select(e => Declares(e, keywords)).FirstOrDefault(k => k is not null),
        _ => null,
    };

    /// <summary>
    /// Arrays longer than their schema's <c>maxItems</c> (or than <see cref="UnboundedArrayLimit"/>
    /// where it has none), found by walking the response with its schema (properties, prefixItems, items).
    /// </summary>
    private static void Oversized(JsonElement schema, JsonElement instance, string pointer, List<string> found)
    {
        if (schema.ValueKind != JsonValueKind.Object) return;
        if (instance.ValueKind == JsonValueKind.Array)
        {
            var count = instance.GetArrayLength();
            var bounded = schema.TryGetProperty("maxItems", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt64(out _);
            var max = bounded ? m.GetInt64() : UnboundedArrayLimit;
            if (count > max)
            {
                found.Add(bounded
                    ? $"{Where(pointer)}: Value should have at most {max} items, not {count}"
                    : $"{Where(pointer)}: {count} items; the server checks at most {max} where the schema sets no maxItems");
                return;
            }
            var i = 0;
            foreach (var item in instance.EnumerateArray())
            {
                var itemSchema = schema.TryGetProperty("prefixItems", out var prefix) && prefix.ValueKind == JsonValueKind.Array && i < prefix.GetArrayLength()
                    ? prefix[i]
                    : schema.TryGetProperty("items", out var items) ? items : default;
                Oversized(itemSchema, item, $"{pointer}/{i}", found);
                i++;
            }
        }
        else if (instance.ValueKind == JsonValueKind.Object && schema.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object)
            foreach (var property in instance.EnumerateObject())
                if (props.TryGetProperty(property.Name, out var propertySchema))
                    Oversized(propertySchema, property.Value, $"{pointer}/{property.Name.Replace("~", "~0").Replace("/", "~1")}", found);
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
            : $"step {step} ({stepName}): {errors.Select(e => e.Input).Distinct().Count()} input(s) are invalid; " +
              string.Join("; ", errors.Select(e => $"'{e.Input}': {e.Message}"));
        return TypedResults.Problem(detail: detail, statusCode: 400, title: "Invalid step input", extensions: new Dictionary<string, object?>
        {
            ["step"] = step,
            ["input"] = first.Input,
            ["errors"] = errors.GroupBy(e => $"steps/{step}/{e.Input}").ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()),
        });
    }

    /// <summary>The decoded length of base64 text (its validity is the schema's <c>pattern</c>).</summary>
    public static long Base64Size(string data)
    {
        var padding = data.EndsWith("==", StringComparison.Ordinal) ? 2 : data.EndsWith('=') ? 1 : 0;
        return data.Length / 4 * 3L + data.Length % 4 * 3 / 4 - padding;
    }

    /// <summary>A JSON Pointer into a response as people write it: <c>/files/0/name</c> is <c>files[0].name</c>.</summary>
    public static string Where(string pointer)
    {
        if (pointer is "" or "#" or "/") return "response";
        var text = new StringBuilder();
        foreach (var part in Segments(pointer))
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _)) text.Append('[').Append(part).Append(']');
            else text.Append(text.Length == 0 ? "" : ".").Append(part);
        return text.ToString();
    }

    private static IEnumerable<string> Segments(string pointer) =>
        pointer.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Replace("~1", "/").Replace("~0", "~"));

    /// <summary>The node a JSON Pointer names (null when there is none); schema keywords and array indices alike.</summary>
    private static JsonElement? Resolve(JsonElement root, string pointer)
    {
        var node = root;
        foreach (var part in Segments(pointer))
        {
            if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty(part, out var child)) node = child;
            else if (node.ValueKind == JsonValueKind.Array && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i) &&
                     i < node.GetArrayLength()) node = node[i];
            else return null;
        }
        return node;
    }

    /// <summary>The subschema that applies to the response's part at <paramref name="segments"/>
    /// (properties, prefixItems, items), for its <c>description</c>; null when there is none.</summary>
    private static JsonElement? SchemaAt(JsonElement schema, IEnumerable<string> segments)
    {
        var node = schema;
        foreach (var part in segments)
        {
            if (node.ValueKind != JsonValueKind.Object) return null;
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i))
            {
                if (node.TryGetProperty("prefixItems", out var prefix) && prefix.ValueKind == JsonValueKind.Array && i < prefix.GetArrayLength())
                    node = prefix[i];
                else if (node.TryGetProperty("items", out var items)) node = items;
                else return null;
            }
            else if (node.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object &&
                     props.TryGetProperty(part, out var property)) node = property;
            else return null;
        }
        return node;
    }

    private static bool Interactive(JsonElement io) =>
        io.ValueKind == JsonValueKind.Object &&
        ((io.TryGetProperty("interactive", out var i) && i.ValueKind == JsonValueKind.True) || ResponseSchema(io) is not null);

    private static JsonElement? ResponseSchema(JsonElement io) =>
        io.TryGetProperty("schema", out var s) && s.ValueKind == JsonValueKind.Object &&
        s.TryGetProperty("response", out var r) && r.ValueKind is JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False ? r : null;

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string Bytes(long n) => n switch
    {
        >= 1L << 30 => FormattableString.Invariant($"{n / (double)(1L << 30):0.#} GiB"),
        >= 1L << 20 => FormattableString.Invariant($"{n / (double)(1L << 20):0.#} MiB"),
        >= 1L << 10 => FormattableString.Invariant($"{n / 1024.0:0.#} KiB"),
        _ => $"{n} bytes",
    };

    private static string Str(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}

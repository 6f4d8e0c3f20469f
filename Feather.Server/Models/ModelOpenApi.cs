using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Server.Models;

/// <summary>
/// The OpenAPI 3.0 document of one model version, generated from its metadata: starting a run
/// pinned to the version, each step's request (the responses keyed by input name, with the
/// components' schemas) and answer (the step with its outputs), auth, and examples.
/// </summary>
public static class ModelOpenApi
{
    private static readonly HashSet<string> SchemaKeys =
    [
        "title", "description", "type", "format", "properties", "required", "items", "enum", "default",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
        "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "additionalProperties",
        "oneOf", "anyOf", "allOf", "not", "nullable", "example",
    ];

    public static JsonObject Build(ModelRecord model, VersionRecord version, string baseUrl)
    {
        using var doc = JsonDocument.Parse(version.MetadataJson);
        var metadata = doc.RootElement;
        var key = $"{model.Owner}/{model.Name}";
        var schemas = new JsonObject
        {
            ["Problem"] = new JsonObject
            {
                ["type"] = "object", ["description"] = "RFC 7807 problem details",
                ["properties"] = new JsonObject
                {
                    ["title"] = Str(), ["detail"] = Str(), ["status"] = new JsonObject { ["type"] = "integer" },
                    ["step"] = new JsonObject { ["type"] = "integer" }, ["input"] = Str(),
                },
            },
            ["StepStatus"] = new JsonObject
            {
                ["type"] = "string",
                ["enum"] = new JsonArray("pending", "awaiting_input", "queued", "running", "succeeded", "failed",
                    "invalid_input", "timed_out", "cancelled", "stale"),
            },
            ["Run"] = new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["id"] = Str(), ["owner"] = Str(), ["model"] = Str(), ["version"] = new JsonObject { ["type"] = "integer" },
                    ["steps"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["properties"] = new JsonObject
                        {
                            ["index"] = new JsonObject { ["type"] = "integer" }, ["name"] = Str(),
                            ["status"] = Ref("StepStatus"),
                            ["iteration"] = new JsonObject { ["type"] = "integer" },
                            ["branch"] = new JsonObject { ["type"] = "string", ["nullable"] = true },
                            ["next"] = new JsonObject { ["type"] = "array", ["nullable"] = true, ["items"] = Str() },
                            ["ends"] = new JsonObject { ["type"] = "boolean" },
                        },
                    } },
                    ["complete"] = new JsonObject { ["type"] = "boolean", ["description"] = "the path has succeeded up to a step after which the run may end" },
                },
            },
        };
        var paths = new JsonObject
        {
            [$"/api/models/{key}/runs"] = new JsonObject
            {
                ["post"] = new JsonObject
                {
                    ["operationId"] = "startRun",
                    ["summary"] = $"Start a run of {key}",
                    ["description"] = $"Starts a run pinned to version {version.Number} (or another version or tag).",
                    ["requestBody"] = new JsonObject
                    {
                        ["required"] = false,
                        ["content"] = Json(new JsonObject
                        {
                            ["type"] = "object",
                            ["properties"] = new JsonObject { ["version"] = new JsonObject { ["type"] = "string", ["description"] = "version number or tag", ["example"] = version.Number.ToString() } },
                        }),
                    },
                    ["responses"] = new JsonObject
                    {
                        ["201"] = Answer("The run", Ref("Run")),
                        ["404"] = Answer("No such model or version", Ref("Problem")),
                        ["429"] = Answer("Anonymous rate limit reached", Ref("Problem")),
                    },
                },
            },
            ["/api/runs/{runId}"] = new JsonObject
            {
                ["get"] = new JsonObject
                {
                    ["operationId"] = "getRun",
                    ["summary"] = "The run with every step",
                    ["parameters"] = new JsonArray(RunIdParameter()),
                    ["responses"] = new JsonObject
                    {
                        ["200"] = Answer("The run", Ref("Run")),
                        ["404"] = Answer("No such run", Ref("Problem")),
                    },
                },
            },
        };

        var graph = metadata.TryGetProperty("graph", out var g) && g.ValueKind == JsonValueKind.Object ? g : (JsonElement?)null;
        var graphSteps = new List<(string Name, string Title, string Prefix, JsonObject Example)>();
        var index = 0;
        foreach (var step in metadata.GetProperty("steps").EnumerateArray())
        {
            var name = step.GetProperty("name").GetString()!;
            var prefix = $"Step{index}{Pascal(name)}";
            var inputs = new JsonObject();
            var example = new JsonObject();
            foreach (var input in step.GetProperty("inputs").EnumerateArray())
            {
                // inputs that need no response (views, values carried from the previous step) are not in the request
                if (input.TryGetProperty("interactive", out var interactive) && interactive.ValueKind == JsonValueKind.False) continue;
                var inputName = input.GetProperty("name").GetString()!;
                var schema = PartSchema(input, "response");
                schema["description"] ??= $"{Component(input)} input '{inputName}'";
                schemas[$"{prefix}Input{Pascal(inputName)}"] = schema;
                inputs[inputName] = Ref($"{prefix}Input{Pascal(inputName)}");
                if (schema["example"] is { } ex) example[inputName] = ex.DeepClone();
            }
            var outputItems = new JsonArray();
            foreach (var output in step.GetProperty("outputs").EnumerateArray())
            {
                var outputName = output.GetProperty("name").GetString()!;
                var valueSchema = PartSchema(output, "value");
                schemas[$"{prefix}Output{Pascal(outputName)}"] = new JsonObject
                {
                    ["type"] = "object",
                    ["description"] = $"{Component(output)} output '{outputName}'",
                    ["properties"] = new JsonObject
                    {
                        ["name"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(outputName) },
                        ["component"] = Str(), ["props"] = new JsonObject { ["type"] = "object" }, ["value"] = valueSchema,
                    },
                };
                outputItems.Add(Ref($"{prefix}Output{Pascal(outputName)}"));
            }
            schemas[$"{prefix}Request"] = new JsonObject
            {
                ["type"] = "object", ["required"] = new JsonArray("responses"),
                ["properties"] = new JsonObject { ["responses"] = new JsonObject { ["type"] = "object", ["properties"] = inputs } },
            };
            schemas[$"{prefix}Result"] = new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["index"] = graph is null ? new JsonObject { ["type"] = "integer", ["enum"] = new JsonArray(index) } : new JsonObject { ["type"] = "integer" },
                    ["name"] = graph is null ? Str() : new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(name) },
                    ["status"] = Ref("StepStatus"),
                    ["iteration"] = new JsonObject { ["type"] = "integer", ["description"] = "how many times in a row this step has run here (a loop's iteration)" },
                    ["branch"] = new JsonObject { ["type"] = "string", ["nullable"] = true, ["description"] = "the branch the step's result took" },
                    ["next"] = new JsonObject { ["type"] = "array", ["nullable"] = true, ["items"] = Str(), ["description"] = "once succeeded: the steps that may come next, the model's choice first" },
                    ["ends"] = new JsonObject { ["type"] = "boolean", ["description"] = "once succeeded: the run may end here" },
                    ["outputs"] = new JsonObject
                    {
                        ["type"] = "array", ["nullable"] = true,
                        ["items"] = outputItems.Count == 0 ? new JsonObject() : new JsonObject { ["oneOf"] = outputItems },
                    },
                    ["error"] = new JsonObject { ["type"] = "object", ["nullable"] = true },
                    ["message"] = new JsonObject { ["type"] = "string", ["nullable"] = true },
                    ["logs"] = Str(),
                    ["startedAt"] = new JsonObject { ["type"] = "string", ["format"] = "date-time", ["nullable"] = true },
                    ["endedAt"] = new JsonObject { ["type"] = "string", ["format"] = "date-time", ["nullable"] = true },
                },
            };
            var title = step.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : name;
            var description = step.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
            if (graph is not null)
            {
                // a graph's positions are not its steps: one operation takes any step, named in the request
                ((JsonObject)schemas[$"{prefix}Request"]!)["required"] = new JsonArray("step", "responses");
                ((JsonObject)schemas[$"{prefix}Request"]!["properties"]!)["step"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray(name) };
                graphSteps.Add((name, title, prefix, example));
                index++;
                continue;
            }
            paths[$"/api/runs/{{runId}}/steps/{index}"] = new JsonObject
            {
                ["post"] = new JsonObject
                {
                    ["operationId"] = $"step{index}{Pascal(name)}",
                    ["summary"] = $"Step {index}: {title}",
                    ["description"] = (description + (index > 0 ? $"\n\nStep {index - 1} must have succeeded in this run; its outputs are carried by the server." : "")).Trim(),
                    ["parameters"] = new JsonArray(RunIdParameter(), new JsonObject
                    {
                        ["name"] = "Prefer", ["in"] = "header", ["required"] = false,
                        ["description"] = "wait=N: answer when the step is done, waiting at most N seconds",
                        ["schema"] = new JsonObject { ["type"] = "string", ["example"] = "wait=60" },
                    }),
                    ["requestBody"] = new JsonObject
                    {
                        ["required"] = true,
                        ["content"] = new JsonObject
                        {
                            ["application/json"] = new JsonObject
                            {
                                ["schema"] = Ref($"{prefix}Request"),
                                ["example"] = new JsonObject { ["responses"] = example },
                            },
                        },
                    },
                    ["responses"] = new JsonObject
                    {
                        ["200"] = Answer("The step finished within the wait", Ref($"{prefix}Result")),
                        ["202"] = Answer("The step is queued or running; poll GET /api/runs/{runId}", Ref($"{prefix}Result")),
                        ["400"] = Answer("The responses do not fit the step's inputs", Ref("Problem")),
                        ["409"] = Answer("An earlier step has not succeeded, or this one is running", Ref("Problem")),
                    },
                },
            };
            index++;
        }

        if (graph is { } declared) AddGraphStep(paths, schemas, declared, graphSteps);

        var document = new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject
            {
                ["title"] = key,
                ["description"] = model.Description,
                ["version"] = version.Number.ToString(),
            },
            ["servers"] = new JsonArray(new JsonObject { ["url"] = baseUrl }),
            ["security"] = model.Visibility == Visibility.Private
                ? new JsonArray(new JsonObject { ["bearer"] = new JsonArray() })
                : new JsonArray(new JsonObject(), new JsonObject { ["bearer"] = new JsonArray() }),
            ["paths"] = paths,
            ["components"] = new JsonObject
            {
                ["schemas"] = schemas,
                ["securitySchemes"] = new JsonObject
                {
                    ["bearer"] = new JsonObject
                    {
                        ["type"] = "http", ["scheme"] = "bearer",
                        ["description"] = "An API token (ftr_...) from POST /api/auth/tokens, with the run scope",
                    },
                },
            },
        };
        if (graph is { } flow) document["x-feather-graph"] = JsonNode.Parse(flow.GetRawText());
        return document;
    }

    /// <summary>
    /// The one step operation of a model with a graph of steps (metadata <c>graph</c>): the position on the run's path in the
    /// URL, the step by name in the request (one of those the previous step offered), each step's request and result as one
    /// alternative; the description spells out the graph (also in <c>x-feather-graph</c>).
    /// </summary>
    private static void AddGraphStep(JsonObject paths, JsonObject schemas, JsonElement graph,
        List<(string Name, string Title, string Prefix, JsonObject Example)> steps)
    {
        var lines = graph.GetProperty("edges").EnumerateArray().Select(e =>
        {
            var to = e.GetProperty("to").ValueKind == JsonValueKind.String ? e.GetProperty("to").GetString() : "the end of the run";
            var when = e.GetProperty("when").ValueKind == JsonValueKind.String ? $" when it returns branch '{e.GetProperty("when").GetString()}'" : "";
            return $"- {e.GetProperty("from").GetString()} → {to}{when}";
        });
        var loops = graph.TryGetProperty("loops", out var l) ? l.EnumerateArray().Select(x =>
            $"- {x.GetProperty("step").GetString()} may run again at most {x.GetProperty("max").GetInt32()} times in a row") : [];
        var first = steps[0];
        paths["/api/runs/{runId}/steps/{index}"] = new JsonObject
        {
            ["post"] = new JsonObject
            {
                ["operationId"] = "submitStep",
                ["summary"] = "Run the step at a position of the run's path",
                ["description"] = $"The run starts with '{graph.GetProperty("start").GetString()}'. After a step succeeded, its `next` lists the steps " +
                    "that may run at the next position (the server decides them from the graph and what the step returned); name one in `step`. " +
                    "Another step is refused with 409. A re-run that takes another branch discards the old branch's steps (stale).\n\n" +
                    string.Join("\n", lines.Concat(loops)),
                ["parameters"] = new JsonArray(RunIdParameter(), new JsonObject
                {
                    ["name"] = "index", ["in"] = "path", ["required"] = true, ["description"] = "the position on the run's path (0: the first step)",
                    ["schema"] = new JsonObject { ["type"] = "integer", ["minimum"] = 0 },
                }, new JsonObject
                {
                    ["name"] = "Prefer", ["in"] = "header", ["required"] = false,
                    ["description"] = "wait=N: answer when the step is done, waiting at most N seconds",
                    ["schema"] = new JsonObject { ["type"] = "string", ["example"] = "wait=60" },
                }),
                ["requestBody"] = new JsonObject
                {
                    ["required"] = true,
                    ["content"] = new JsonObject
                    {
                        ["application/json"] = new JsonObject
                        {
                            ["schema"] = new JsonObject { ["oneOf"] = new JsonArray(steps.Select(s => (JsonNode)Ref($"{s.Prefix}Request")).ToArray()) },
                            ["example"] = new JsonObject { ["step"] = first.Name, ["responses"] = first.Example.DeepClone() },
                        },
                    },
                },
                ["responses"] = new JsonObject
                {
                    ["200"] = Answer("The step finished within the wait", new JsonObject { ["oneOf"] = new JsonArray(steps.Select(s => (JsonNode)Ref($"{s.Prefix}Result")).ToArray()) }),
                    ["202"] = Answer("The step is queued or running; poll GET /api/runs/{runId}", new JsonObject { ["oneOf"] = new JsonArray(steps.Select(s => (JsonNode)Ref($"{s.Prefix}Result")).ToArray()) }),
                    ["400"] = Answer("The responses do not fit the step's inputs", Ref("Problem")),
                    ["409"] = Answer("The step is not next on the path, the step before has not succeeded, or this one is running", Ref("Problem")),
                },
            },
        };
    }

    /// <summary>Keeps the JSON Schema keywords OpenAPI 3.0 understands; turns const and type lists into their 3.0 forms.</summary>
    internal static JsonObject Sanitize(JsonObject schema)
    {
        var result = new JsonObject();
        foreach (var (k, v) in schema)
        {
            if (v is null) continue;
            switch (k)
            {
                case "const":
                    result["enum"] = new JsonArray(v.DeepClone());
                    break;
                case "type" when v is JsonArray types:
                    var names = types.Select(x => x?.GetValue<string>()).Where(x => x is not null).ToList();
                    if (names.Contains("null")) result["nullable"] = true;
                    var first = names.FirstOrDefault(x => x != "null");
                    if (first is not null) result["type"] = first;
                    break;
                case "properties" when v is JsonObject props:
                    var p = new JsonObject();
                    foreach (var (pk, pv) in props)
                        if (pv is JsonObject po) p[pk] = Sanitize(po);
                    result["properties"] = p;
                    break;
                case "items" when v is JsonObject io:
                    result["items"] = Sanitize(io);
                    break;
                case "additionalProperties" when v is JsonObject ao:
                    result["additionalProperties"] = Sanitize(ao);
                    break;
                case "oneOf" or "anyOf" or "allOf" when v is JsonArray list:
                    result[k] = new JsonArray(list.OfType<JsonObject>().Select(x => (JsonNode)Sanitize(x)).ToArray());
                    break;
                case "not" when v is JsonObject no:
                    result["not"] = Sanitize(no);
                    break;
                case "examples" when v is JsonArray { Count: > 0 } examples && !schema.ContainsKey("example"):
                    // JSON Schema's examples (the SDK's response schemas give a valid response first) → OpenAPI 3.0's example
                    result["example"] = examples[0]?.DeepClone();
                    break;
                case "exclusiveMinimum" or "exclusiveMaximum" when v is JsonValue num && num.TryGetValue<double>(out var bound):
                    // JSON Schema 2020-12 numeric form → OpenAPI 3.0 boolean form
                    result[k == "exclusiveMinimum" ? "minimum" : "maximum"] = bound;
                    result[k] = true;
                    break;
                default:
                    if (SchemaKeys.Contains(k) && k is not ("properties" or "items" or "additionalProperties" or "not" or "oneOf" or "anyOf" or "allOf"))
                        result[k] = v.DeepClone();
                    break;
            }
        }
        if (result["type"] is JsonValue { } type && type.GetValue<string>() == "array" && result["items"] is null)
            result["items"] = new JsonObject();
        if (result["type"] is JsonValue { } tv && tv.GetValue<string>() is not ("string" or "number" or "integer" or "boolean" or "array" or "object"))
            result.Remove("type");
        return result;
    }

    private static string Component(JsonElement c) =>
        c.TryGetProperty("component", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "component";

    private static string Pascal(string name) =>
        string.Concat(name.Split('_', '-', ' ', '.').Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..]))
            is { Length: > 0 } s && s.All(char.IsAsciiLetterOrDigit) ? s : Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(name));

    private static JsonObject Str() => new() { ["type"] = "string" };
    private static JsonObject Ref(string name) => new() { ["$ref"] = $"#/components/schemas/{name}" };
    /// <summary>
    /// The SDK describes each component with <c>schema: {"value": ..., "response": ...}</c>: what the
    /// component carries, and what a caller sends back for it. Either may be null (nothing).
    /// </summary>
    private static JsonObject PartSchema(JsonElement io, string part)
    {
        if (!io.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object) return new JsonObject();
        var chosen = schema.TryGetProperty(part, out var p) ? p : schema;
        return chosen.ValueKind == JsonValueKind.Object ? Sanitize(JsonNode.Parse(chosen.GetRawText())!.AsObject()) : new JsonObject();
    }

    private static JsonObject Json(JsonObject schema) => new() { ["application/json"] = new JsonObject { ["schema"] = schema } };
    private static JsonObject Answer(string description, JsonObject schema) => new()
    {
        ["description"] = description,
        ["content"] = new JsonObject
        {
            [schema["$ref"]?.GetValue<string>().EndsWith("/Problem") == true ? "application/problem+json" : "application/json"] =
                new JsonObject { ["schema"] = schema },
        },
    };

    private static JsonObject RunIdParameter() => new()
    {
        ["name"] = "runId", ["in"] = "path", ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" },
    };
}

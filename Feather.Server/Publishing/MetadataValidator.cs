using System.Reflection;
using System.Text.Json;
using Feather.Server.Auth;
using Json.Schema;

namespace Feather.Server.Publishing;

/// <summary>
/// Checks model metadata (docs/contracts.md section 1): against the SDK's JSON Schema, embedded
/// from python-sdk/feather/schema/metadata.schema.json at build time, and against the fields the
/// server itself relies on. Errors are keyed by the JSON path of the offending value.
/// </summary>
public sealed class MetadataValidator
{
    public const string SchemaResource = "Feather.Server.metadata.schema.json";
    public static readonly string[] Profiles = ["low", "medium", "high"];

    private readonly JsonSchema? _schema;

    public MetadataValidator(ILogger<MetadataValidator> logger) : this(EmbeddedSchema())
    {
        if (_schema is null)
            logger.LogWarning("The metadata JSON Schema was not embedded at build time; only the server's own metadata checks apply");
    }

    /// <summary>A validator for a given schema text (null: the server's own checks only).</summary>
    public MetadataValidator(string? schemaText)
    {
        if (schemaText is not null)
            _schema = JsonSchema.FromText(schemaText, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    }

    private static string? EmbeddedSchema()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(SchemaResource);
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public bool HasSchema => _schema is not null;

    public Dictionary<string, string[]> Validate(JsonElement metadata)
    {
        var errors = new Dictionary<string, List<string>>();
        void Add(string path, string message)
        {
            if (!errors.TryGetValue(path, out var list)) errors[path] = list = [];
            list.Add(message);
        }

        if (metadata.ValueKind != JsonValueKind.Object)
        {
            Add("metadata", "must be a JSON object (the output of 'python3 -m feather inspect')");
            return Finish(errors);
        }

        if (_schema is not null)
        {
            var result = _schema.Evaluate(metadata, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!result.IsValid)
                foreach (var detail in (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }))
                    foreach (var (_, message) in detail.Errors!)
                        Add("metadata" + detail.InstanceLocation, message);
        }

        if (!metadata.TryGetProperty("schema_version", out var sv) || sv.ValueKind != JsonValueKind.Number || sv.GetInt32() is not (1 or 2))
            Add("metadata/schema_version", "must be 1 (a linear model) or 2 (a model with a graph of steps)");
        else
            ValidateGraph(metadata, sv.GetInt32(), Add);
        var name = Str(metadata, "name");
        if (!Names.IsValid(name)) Add("metadata/name", $"must be {Names.Rule}");
        if (Str(metadata, "description") is null) Add("metadata/description", "must be a string");
        var entrypoint = Str(metadata, "entrypoint");
        if (entrypoint is null) Add("metadata/entrypoint", "must be the model file's relative path");
        else if (ManifestPath.Problem(entrypoint) is { } ep) Add("metadata/entrypoint", ep);
        var profile = Str(metadata, "profile");
        if (profile is null || !Profiles.Contains(profile))
            Add("metadata/profile", $"must be one of {string.Join(", ", Profiles)}");

        if (!metadata.TryGetProperty("environment", out var env) || env.ValueKind != JsonValueKind.Object)
            Add("metadata/environment", "must be an object with python, python_packages and system_packages");
        else
        {
            if (Str(env, "python") is null) Add("metadata/environment/python", "must be a Python version such as 3.11");
            StringArray(env, "python_packages", "metadata/environment/python_packages", Add);
            StringArray(env, "system_packages", "metadata/environment/system_packages", Add);
        }

        if (!metadata.TryGetProperty("bundle", out var bundle) || bundle.ValueKind != JsonValueKind.Object)
            Add("metadata/bundle", "must be an object with code and model file lists");
        else
            foreach (var key in new[] { "code", "model" })
                foreach (var (path, i) in StringArray(bundle, key, $"metadata/bundle/{key}", Add).Select((p, i) => (p, i)))
                    if (ManifestPath.Problem(path) is { } problem) Add($"metadata/bundle/{key}/{i}", problem);

        if (metadata.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Object)
        {
            StringArray(tags, "task", "metadata/tags/task", Add, required: false);
            StringArray(tags, "dataset", "metadata/tags/dataset", Add, required: false);
        }

        if (!metadata.TryGetProperty("steps", out var steps) || steps.ValueKind != JsonValueKind.Array || steps.GetArrayLength() == 0)
            Add("metadata/steps", "must be a non-empty array");
        else
        {
            var i = 0;
            foreach (var step in steps.EnumerateArray())
            {
                var at = $"metadata/steps/{i++}";
                if (step.ValueKind != JsonValueKind.Object) { Add(at, "must be an object"); continue; }
                if (Str(step, "name") is null) Add($"{at}/name", "must be a string");
                foreach (var key in new[] { "inputs", "outputs" })
                {
                    if (!step.TryGetProperty(key, out var list) || list.ValueKind != JsonValueKind.Array)
                    {
                        Add($"{at}/{key}", "must be an array");
                        continue;
                    }
                    var j = 0;
                    foreach (var component in list.EnumerateArray())
                    {
                        if (component.ValueKind != JsonValueKind.Object || Str(component, "name") is null)
                            Add($"{at}/{key}/{j}", "must be an object with a name");
                        j++;
                    }
                }
            }
            if (!metadata.TryGetProperty("num_steps", out var ns) || ns.ValueKind != JsonValueKind.Number ||
                ns.GetInt32() != steps.GetArrayLength())
                Add("metadata/num_steps", $"must equal the number of steps ({steps.GetArrayLength()})");
        }
        return Finish(errors);
    }

    /// <summary>
    /// Schema version 2's <c>graph</c> (docs/contracts.md section 1): it starts at the first step, every edge joins steps of the
    /// model (to null: the run ends), every loop is a step's bounded self-edge. Version 1 has no graph (a linear model).
    /// </summary>
    private static void ValidateGraph(JsonElement metadata, int schemaVersion, Action<string, string> add)
    {
        var hasGraph = metadata.TryGetProperty("graph", out var graph);
        if (schemaVersion == 1)
        {
            if (hasGraph) add("metadata/graph", "needs schema_version 2");
            return;
        }
        if (!hasGraph || graph.ValueKind != JsonValueKind.Object)
        {
            add("metadata/graph", "schema_version 2 needs the graph of steps (start, edges, loops)");
            return;
        }
        if (!metadata.TryGetProperty("steps", out var steps) || steps.ValueKind != JsonValueKind.Array) return;
        var names = steps.EnumerateArray().Select(s => Str(s, "name")).Where(n => n is not null).ToList();
        if (Str(graph, "start") is not { } start || names.Count == 0 || start != names[0])
            add("metadata/graph/start", $"must be the first step's name ({(names.Count > 0 ? names[0] : "?")})");
        if (!graph.TryGetProperty("edges", out var edges) || edges.ValueKind != JsonValueKind.Array || edges.GetArrayLength() == 0)
        {
            add("metadata/graph/edges", "must be a non-empty array of {from, to, when}");
            return;
        }
        var i = 0;
        foreach (var edge in edges.EnumerateArray())
        {
            var at = $"metadata/graph/edges/{i++}";
            if (edge.ValueKind != JsonValueKind.Object) { add(at, "must be an object"); continue; }
            if (Str(edge, "from") is not { } from || !names.Contains(from)) add($"{at}/from", "must name a step of the model");
            if (edge.TryGetProperty("to", out var to) && to.ValueKind != JsonValueKind.Null &&
                (to.ValueKind != JsonValueKind.String || !names.Contains(to.GetString())))
                add($"{at}/to", "must name a step of the model, or be null (the run ends)");
        }
        if (!graph.TryGetProperty("loops", out var loops) || loops.ValueKind != JsonValueKind.Array) return;
        i = 0;
        foreach (var loop in loops.EnumerateArray())
        {
            var at = $"metadata/graph/loops/{i++}";
            if (loop.ValueKind != JsonValueKind.Object || Str(loop, "step") is not { } step || !names.Contains(step))
                add($"{at}/step", "must name a step of the model");
            else if (!edges.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.Object && Str(e, "from") == step && Str(e, "to") == step && Str(e, "when") == Feather.Server.Runs.RunGraph.LoopAgain))
                add($"{at}/step", $"a loop needs the step's edge to itself with when '{Feather.Server.Runs.RunGraph.LoopAgain}'");
            if (loop.ValueKind != JsonValueKind.Object || !loop.TryGetProperty("max", out var max) || max.ValueKind != JsonValueKind.Number ||
                !max.TryGetInt32(out var bound) || bound < 1)
                add($"{at}/max", "a loop needs a bound: an integer >= 1");
        }
    }

    private static Dictionary<string, string[]> Finish(Dictionary<string, List<string>> errors) =>
        errors.ToDictionary(e => e.Key, e => e.Value.Distinct().ToArray());

    public static string? Str(JsonElement obj, string key) =>
        obj.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static List<string> StringArray(JsonElement obj, string key, string path, Action<string, string> add, bool required = true)
    {
        if (!obj.TryGetProperty(key, out var arr))
        {
            if (required) add(path, "must be an array of strings");
            return [];
        }
        if (arr.ValueKind != JsonValueKind.Array || arr.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            add(path, "must be an array of strings");
            return [];
        }
        return arr.EnumerateArray().Select(e => e.GetString()!).ToList();
    }
}

using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Json.Schema;

namespace Feather.Datasets;

/// <summary>The tasks a dataset can be made for; later evaluations pick their metrics by task.</summary>
public static class DatasetTasks
{
    public static readonly string[] All = ["image-classification", "text-classification", "regression", "question-answering", "text-generation"];
}

/// <summary>The types a record field can have.</summary>
public static class FieldTypes
{
    public const string Text = "text";
    public const string Number = "number";
    public const string Integer = "integer";
    public const string Label = "label";
    public const string File = "file";
    public const string Image = "image";
    public static readonly string[] All = [Text, Number, Integer, Label, File, Image];
}

/// <summary>A field's role: what a model is given (input) or what only the scorer sees (label).</summary>
public static class FieldRoles
{
    public const string Input = "input";
    public const string Label = "label";
}

public sealed record DatasetField(string Name, string Type, string Role, string? Description = null, string[]? Classes = null)
{
    [JsonIgnore] public bool IsLabel => Role == FieldRoles.Label;
    /// <summary>The value is a path to a file inside the dataset directory.</summary>
    [JsonIgnore] public bool IsFile => Type is FieldTypes.File or FieldTypes.Image;
}

/// <summary>The manifest of a dataset directory (<c>dataset.json</c>, docs/datasets.md).</summary>
public sealed record DatasetManifest(
    string Name, string? Title, string Description, string Task, string? Licence, string? Citation, string Records, DatasetField[] Fields,
    string? Split = null)
{
    public const string FileName = "dataset.json";

    /// <summary>Held-out data (the default): evaluated automatically, ranked on leaderboards.</summary>
    public const string TestSplit = "test";
    /// <summary>Training data: for fine-tuning; never evaluated automatically, never a task's default leaderboard.</summary>
    public const string TrainSplit = "train";

    /// <summary>The manifest's split, <see cref="TestSplit"/> when it names none.</summary>
    [JsonIgnore] public string SplitOrDefault => Split ?? TestSplit;

    /// <summary>"csv" or "jsonl", from the records file's extension.</summary>
    [JsonIgnore] public string RecordsFormat => Records.EndsWith(".jsonl", StringComparison.Ordinal) ? "jsonl" : "csv";

    /// <summary>Where the manifest JSON Schema comes from: the SDK's file, embedded at build time.</summary>
    public const string SchemaResource = "Feather.Datasets.dataset.schema.json";

    private static readonly Lazy<JsonSchema> Schema = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(SchemaResource)
            ?? throw new InvalidOperationException($"{SchemaResource} was not embedded at build time");
        using var reader = new StreamReader(stream);
        return JsonSchema.FromText(reader.ReadToEnd(), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
    });

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Checks a manifest against the JSON Schema and the rules the schema cannot say (unique field names, one
    /// input and one label at least, classes only on labels). Errors are keyed by the JSON path of the value
    /// (<c>fields/1/role</c>); <paramref name="pathProblem"/> judges the records path (null when fine).
    /// </summary>
    public static (DatasetManifest? Manifest, Dictionary<string, string[]> Errors) Parse(JsonElement json, Func<string, string?> pathProblem)
    {
        var errors = new Dictionary<string, List<string>>();
        void Add(string path, string message)
        {
            if (!errors.TryGetValue(path, out var list)) errors[path] = list = [];
            if (!list.Contains(message)) list.Add(message);
        }
        Dictionary<string, string[]> Finish() => errors.ToDictionary(e => e.Key, e => e.Value.ToArray());

        if (json.ValueKind != JsonValueKind.Object)
        {
            Add("manifest", "must be a JSON object");
            return (null, Finish());
        }
        var result = Schema.Value.Evaluate(json, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!result.IsValid)
            foreach (var detail in (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }))
                foreach (var (keyword, message) in detail.Errors!)
                    Add(Location(detail.InstanceLocation.ToString()), Explain(keyword, message, detail.InstanceLocation.ToString()));
        if (errors.Count > 0) return (null, Finish());

        var manifest = json.Deserialize<DatasetManifest>(Options)!;
        if (pathProblem(manifest.Records) is { } problem) Add("records", problem);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < manifest.Fields.Length; i++)
        {
            var field = manifest.Fields[i];
            if (!seen.Add(field.Name)) Add($"fields/{i}/name", $"'{field.Name}' is declared twice");
            if (field.Classes is not null && field.Type != FieldTypes.Label)
                Add($"fields/{i}/classes", $"only a field of type 'label' can list classes ('{field.Name}' is {field.Type})");
        }
        if (!manifest.Fields.Any(f => f.Role == FieldRoles.Input))
            Add("fields", "no field has role 'input': a model needs at least one input field");
        if (!manifest.Fields.Any(f => f.IsLabel))
            Add("fields", "no field has role 'label': a dataset for evaluation needs at least one label field");
        return errors.Count > 0 ? (null, Finish()) : (manifest, Finish());
    }

    private static string Location(string pointer) => pointer.Length <= 1 ? "manifest" : pointer.TrimStart('/');

    /// <summary>Clearer words than the schema library's for the mistakes people make most.</summary>
    private static string Explain(string keyword, string message, string pointer) => (keyword, pointer) switch
    {
        ("enum", "/task") => $"must be one of {string.Join(", ", DatasetTasks.All)}",
        ("enum", _) when pointer.EndsWith("/type", StringComparison.Ordinal) => $"must be one of {string.Join(", ", FieldTypes.All)}",
        ("enum", _) when pointer.EndsWith("/role", StringComparison.Ordinal) => "must be 'input' or 'label'",
        ("pattern", "/name") => "must be lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters",
        ("pattern", "/records") => "must be a relative path ending in .csv or .jsonl",
        _ => message,
    };
}

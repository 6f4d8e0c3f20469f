using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Output;

namespace Feather.Cli.Runs;

/// <summary>
/// Asks for the responses of one step from its metadata (<c>steps[k].inputs</c>), reading lines
/// from <paramref name="input"/>: texts for <c>Text.In</c> and the <c>*.WithTextIn</c>
/// components, numbered choices (1-based) for the selections, file paths for <c>File.Upload</c>.
/// The choices come from the input's own value (step 0, <c>init</c>) or from the previous step's
/// output of the same name, which is what the model showed. The rules (how many texts and
/// characters, how many choices, which files) come from the response schema the SDK emits with it
/// (<c>schema.response</c>, docs/contracts.md §1, "Response schemas"), the one the server validates with; a
/// component this prompter has no question for is answered as JSON, with the schema's example.
/// A bad answer is explained and asked again; the end of the input stops the run with an error.
/// </summary>
public sealed class InteractivePrompter(TextReader input, TextWriter prompt, TextWriter errors)
{
    private static readonly Dictionary<string, string> MediaTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif",
        [".bmp"] = "image/bmp", [".webp"] = "image/webp", [".tif"] = "image/tiff", [".tiff"] = "image/tiff",
        [".txt"] = "text/plain", [".md"] = "text/markdown", [".csv"] = "text/csv", [".tsv"] = "text/tab-separated-values",
        [".json"] = "application/json", [".jsonl"] = "application/jsonl", [".xml"] = "application/xml", [".html"] = "text/html",
        [".pdf"] = "application/pdf", [".npy"] = "application/octet-stream", [".npz"] = "application/octet-stream",
        [".wav"] = "audio/wav", [".mp3"] = "audio/mpeg", [".zip"] = "application/zip", [".bin"] = "application/octet-stream",
    };

    /// <summary>The media type of a file by its extension (application/octet-stream when unknown).</summary>
    public static string MediaTypeOf(string path) => MediaTypes.GetValueOrDefault(Path.GetExtension(path), "application/octet-stream");

    /// <summary>The responses for step <paramref name="index"/>.</summary>
    /// <param name="stepMetadata">the metadata's <c>steps[index]</c></param>
    /// <param name="previousOutputs">the outputs of step index−1 as the server returned them (null for step 0)</param>
    public JsonObject Ask(int index, JsonNode? stepMetadata, JsonNode? previousOutputs)
    {
        var responses = new JsonObject();
        var shown = (previousOutputs as JsonArray ?? []).OfType<JsonObject>()
            .Where(o => o["name"] is not null).GroupBy(o => Format.Str(o, "name")).ToDictionary(g => g.Key, g => g.First());
        foreach (var spec in (stepMetadata?["inputs"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if (spec["interactive"]?.GetValueKind() != JsonValueKind.True) continue;
            if (spec["schema"] is JsonObject schema && schema["response"] is null) continue;
            var name = Format.Str(spec, "name");
            var component = Format.Str(spec, "component");
            shown.TryGetValue(name, out var output);
            var value = (output?["value"] ?? spec["value"]) as JsonObject ?? [];
            var props = Merge(spec["props"] as JsonObject, output?["props"] as JsonObject);
            var rules = (output?["schema"]?["response"] ?? spec["schema"]?["response"]) as JsonObject;
            var title = Format.Str(props, "title") is { Length: > 0 } t ? t : name;
            prompt.WriteLine($"step {index}, {title} ({component}):");
            if (Format.Str(props, "description") is { Length: > 0 } description) prompt.WriteLine($"  {description}");
            var selected = Field(rules, "selected");
            var texts = Field(rules, "texts");
            responses[name] = component switch
            {
                "Text.In" => AskTexts(name, props, texts),
                "List.SelectOne" => new JsonObject { ["selected"] = AskOne(name, Strings(value["items"]), "  choice") },
                "List.SelectMulti" => new JsonObject { ["selected"] = AskMany(name, Strings(value["items"]), Ints(value["preselected"]), selected, "  choices") },
                "Image.WithSelectOne" => new JsonObject { ["selected"] = new JsonArray(PerItem(value["images"]).Select((label, i) =>
                    (JsonNode)AskOne(name, Strings((value["lists"] as JsonArray)?.ElementAtOrDefault(i)), $"  {label}: choice")).ToArray()) },
                "Image.WithSelectMulti" => new JsonObject { ["selected"] = new JsonArray(PerItem(value["images"]).Select((label, i) =>
                    (JsonNode)AskMany(name, Strings((value["lists"] as JsonArray)?.ElementAtOrDefault(i)),
                        Ints((value["preselected"] as JsonArray)?.ElementAtOrDefault(i)), ItemAt(selected, i), $"  {label}: choices")).ToArray()) },
                "Image.WithTextIn" => new JsonObject { ["texts"] = AskPerItem(name, PerItem(value["images"]), props, texts) },
                "Document.WithTextIn" => new JsonObject { ["texts"] = AskPerItem(name, PerItem(value["documents"]), props, texts) },
                "File.Upload" => new JsonObject { ["files"] = AskFiles(name, Field(rules, "files")) },
                _ when rules is not null => AskJson(name, rules),
                _ => throw new CliException(ExitCodes.Usage, $"step {index} input \"{name}\" uses {component}, which feather run cannot ask for interactively",
                    "write the responses in a file and pass it with --inputs"),
            };
        }
        return responses;
    }

    /// <summary>
    /// Where a model with branches or loops goes on: one of the <paramref name="offered"/> steps (the model's choice first), or
    /// null to end the run when <paramref name="ends"/>.
    /// </summary>
    public string? ChooseNext(int index, IReadOnlyList<string> offered, bool ends)
    {
        var options = offered.ToList();
        prompt.WriteLine($"step {index}: what comes next?");
        for (var i = 0; i < options.Count; i++) prompt.WriteLine($"    {i + 1}. {TerminalText.Safe(options[i])}{(i == 0 ? " (the model's choice)" : "")}");
        if (ends) prompt.WriteLine($"    {options.Count + 1}. end the run here");
        var count = options.Count + (ends ? 1 : 0);
        while (true)
        {
            var line = Read("next step", $"  choice (1-{count}) [1]: ");
            if (line.Length == 0) return options.Count > 0 ? options[0] : null;
            if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= count)
                return n <= options.Count ? options[n - 1] : null;
            errors.WriteLine($"  '{line}' is not a number from 1 to {count}; try again");
        }
    }

    private JsonObject AskTexts(string name, JsonObject props, JsonObject rules)
    {
        // the number of boxes: the schema's count (props only for runs recorded before schemas travelled)
        var count = Math.Max(1, Int(rules["minItems"]) ?? Int(props["num_inputs"]) ?? 1);
        var fallback = Format.Str(props, "default_text");
        var texts = new JsonArray();
        for (var i = 0; i < count; i++)
            texts.Add(AskText(name, count > 1 ? $"  text {i + 1} of {count}" : "  text", fallback, Int(ItemAt(rules, i)["maxLength"])));
        return new JsonObject { ["texts"] = texts };
    }

    private JsonArray AskPerItem(string name, IReadOnlyList<string> labels, JsonObject props, JsonObject rules)
    {
        var fallback = Format.Str(props, "default_text");
        var texts = new JsonArray();
        foreach (var (label, i) in labels.Select((l, i) => (l, i))) texts.Add(AskText(name, $"  {label}", fallback, Int(ItemAt(rules, i)["maxLength"])));
        return texts;
    }

    private string AskText(string name, string label, string fallback, int? maxChars)
    {
        while (true)
        {
            var line = Read(name, fallback.Length > 0 ? $"{label} [{fallback}]: " : $"{label}: ");
            var text = line.Length == 0 ? fallback : line;
            var length = text.EnumerateRunes().Count(); // characters, as JSON Schema's maxLength counts them
            if (maxChars is { } max && length > max) { errors.WriteLine($"  at most {max} characters, not {length}; try again"); continue; }
            return text;
        }
    }

    private int AskOne(string name, IReadOnlyList<string> items, string label)
    {
        if (items.Count == 0) throw new CliException(ExitCodes.Error, $"input \"{name}\" offers nothing to choose from");
        ListItems(items, []);
        while (true)
        {
            var line = Read(name, $"{label} (1-{items.Count}): ");
            if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= items.Count) return n - 1;
            errors.WriteLine($"  '{line}' is not a number from 1 to {items.Count}; try again");
        }
    }

    private JsonArray AskMany(string name, IReadOnlyList<string> items, IReadOnlyList<int> preselected, JsonObject rules, string label)
    {
        var min = Int(rules["minItems"]) ?? 0;
        var max = Int(rules["maxItems"]);
        if (items.Count == 0 && min == 0) return [];
        if (items.Count == 0) throw new CliException(ExitCodes.Error, $"input \"{name}\" offers nothing to choose from");
        ListItems(items, preselected);
        var count = max is { } most ? min == most ? $"pick {min}" : min > 0 ? $"pick {min} to {most}" : $"pick up to {most}"
            : min > 0 ? $"pick at least {min}" : "pick any";
        var empty = preselected.Count > 0 ? ", empty keeps the marked ones" : min == 0 ? ", empty picks none" : "";
        var hint = $"numbers 1-{items.Count} separated by spaces, {count}{empty}";
        while (true)
        {
            var line = Read(name, $"{label} ({hint}): ");
            if (line.Length == 0 && preselected.Count > 0) return new JsonArray(preselected.Select(i => (JsonNode)i).ToArray());
            var parts = line.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
            var picked = new List<int>();
            string? problem = null;
            foreach (var part in parts)
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > items.Count) { problem = $"'{part}' is not a number from 1 to {items.Count}"; break; }
                if (picked.Contains(n - 1)) { problem = $"{n} is given twice"; break; }
                picked.Add(n - 1);
            }
            if (problem is null && max is { } limit && picked.Count > limit) problem = $"at most {limit} may be chosen, not {picked.Count}";
            if (problem is null && picked.Count < min) problem = $"choose at least {min}";
            if (problem is null) return new JsonArray(picked.Select(i => (JsonNode)i).ToArray());
            errors.WriteLine($"  {problem}; try again");
        }
    }

    private JsonArray AskFiles(string name, JsonObject rules)
    {
        // the accepted extensions are those of the file name's examples (example.png, ...)
        var types = Strings(ItemAt(rules, 0)["properties"]?["name"]?["examples"]).Select(Path.GetExtension)
            .Where(e => !string.IsNullOrEmpty(e)).Select(e => e!.ToLowerInvariant()).ToList();
        var min = Int(rules["minItems"]) ?? 0;
        var max = Int(rules["maxItems"]);
        var hint = $"{min}{(max is { } m ? $"-{m}" : "+")} file path(s) separated by spaces{(types.Count > 0 ? $"; {string.Join(' ', types)}" : "")}";
        while (true)
        {
            var line = Read(name, $"  files ({hint}): ");
            var paths = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string? problem = paths.Length < min ? $"give at least {min} file(s)" : max is { } limit && paths.Length > limit ? $"give at most {limit} file(s)" : null;
            var files = new JsonArray();
            foreach (var path in problem is null ? paths : [])
            {
                var full = Path.GetFullPath(path.StartsWith("~/", StringComparison.Ordinal)
                    ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..]) : path);
                var extension = Path.GetExtension(full);
                if (!File.Exists(full)) { problem = $"{path} does not exist"; break; }
                if (types.Count > 0 && !types.Contains(extension, StringComparer.OrdinalIgnoreCase)) { problem = $"{path}: type {extension} not accepted (accepted: {string.Join(' ', types)})"; break; }
                files.Add(new JsonObject
                {
                    ["name"] = Path.GetFileName(full),
                    ["media_type"] = MediaTypes.GetValueOrDefault(extension, "application/octet-stream"),
                    ["path"] = full, // streamed to the run before the step is submitted (StepFiles)
                });
            }
            if (problem is null) return files;
            errors.WriteLine($"  {problem}; try again");
        }
    }

    private void ListItems(IReadOnlyList<string> items, IReadOnlyList<int> marked)
    {
        for (var i = 0; i < items.Count; i++) prompt.WriteLine($"    {i + 1}. {TerminalText.Safe(items[i])}{(marked.Contains(i) ? " *" : "")}");
    }

    private string Read(string name, string text)
    {
        prompt.Write(text);
        prompt.Flush();
        var line = input.ReadLine()
            ?? throw new CliException(ExitCodes.Usage, $"the input ended before \"{name}\" was answered", "answer every prompt, or pass the responses with --inputs FILE.json");
        return line.Trim();
    }

    /// <summary>Labels of the images or documents an input is about: their names, else #1, #2, ...</summary>
    private static IReadOnlyList<string> PerItem(JsonNode? blobs) =>
        (blobs as JsonArray ?? []).Select((b, i) => Format.Str(b, "name") is { Length: > 0 } n ? n : $"#{i + 1}").ToList();

    private static JsonObject Merge(JsonObject? a, JsonObject? b)
    {
        var merged = new JsonObject();
        foreach (var source in new[] { a, b })
            foreach (var (key, value) in source ?? [])
                if (value is not null) merged[key] = value.DeepClone();
        return merged;
    }

    /// <summary>A component this prompter has no question for: its response as one line of JSON.</summary>
    private JsonNode AskJson(string name, JsonObject rules)
    {
        var example = (rules["examples"] as JsonArray)?.FirstOrDefault()?.ToJsonString();
        while (true)
        {
            var line = Read(name, example is null ? "  response as JSON: " : $"  response as JSON, e.g. {example}: ");
            try
            {
                if (JsonNode.Parse(line) is { } parsed) return parsed;
                errors.WriteLine("  give a JSON value, not null; try again");
            }
            catch (JsonException e)
            {
                errors.WriteLine($"  not JSON ({e.Message}); try again");
            }
        }
    }

    /// <summary>The schema of the response's field <paramref name="key"/> (texts, selected, files), or an empty schema.</summary>
    private static JsonObject Field(JsonObject? schema, string key) => schema?["properties"]?[key] as JsonObject ?? [];

    /// <summary>The schema of item <paramref name="i"/> of an array schema: its prefixItems entry, else its items.</summary>
    private static JsonObject ItemAt(JsonObject array, int i) =>
        (array["prefixItems"] as JsonArray)?.ElementAtOrDefault(i) as JsonObject ?? array["items"] as JsonObject ?? [];

    private static int? Int(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var i) ? i : null;

    private static IReadOnlyList<string> Strings(JsonNode? node) =>
        (node as JsonArray ?? []).Select(i => i is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : i?.ToJsonString() ?? "").ToList();

    private static IReadOnlyList<int> Ints(JsonNode? node) =>
        (node as JsonArray ?? []).Select(Int).Where(i => i is not null).Select(i => i!.Value).ToList();
}

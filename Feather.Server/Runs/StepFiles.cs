using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Feather.Server.Configuration;
using Feather.Server.Sandbox;

namespace Feather.Server.Runs;

/// <summary>
/// How a step's files are carried (docs/contracts.md section 3, "Files"). A binary payload anywhere in a step's
/// responses or outputs is an object <c>{"name", "media_type", ...}</c> with one of:
/// <list type="bullet">
/// <item><c>"file": "&lt;id&gt;"</c>: a file of the run (uploaded with <c>POST /api/runs/{runId}/files</c>, or an output),
/// how the server stores and answers them, with <c>size</c> and <c>url</c> (its download link);</item>
/// <item><c>"data": "&lt;base64&gt;"</c>: inline bytes from a client, for small files; stored as a run file on submit;</item>
/// <item><c>"path": "in/…" | "out/…"</c>: a file in the step's file area, what the runtime reads and writes.</item>
/// </list>
/// Each file is at most FEATHER_MAX_STEP_FILE_BYTES, and one step's files (in, and out) at most FEATHER_MAX_STEP_BYTES.
/// </summary>
public sealed partial class StepFiles(RunFileStore store, FeatherOptions options)
{
    public long MaxFileBytes => options.MaxStepFileBytes;
    public long MaxStepBytes => options.MaxStepBytes;

    /// <summary>
    /// The responses as the schema validator should see them (a file reference becomes inline data of no bytes,
    /// whose size the server checks here instead), and what is wrong with their files: an unknown file, a file or a
    /// step past its limit.
    /// </summary>
    public (JsonElement ForValidation, List<StepInputError> Errors) Inspect(string runId, JsonElement responses)
    {
        var errors = new List<StepInputError>();
        if (responses.ValueKind != JsonValueKind.Object) return (responses, errors);
        var view = JsonNode.Parse(responses.GetRawText())!.AsObject();
        long total = 0;
        foreach (var (input, value) in view.ToList())
        {
            var replaced = Walk(value, node =>
            {
                if (IsReference(node, out var id))
                {
                    var file = store.Find(runId, id);
                    if (file is null)
                    {
                        errors.Add(new(input, $"'{Str(node, "name")}': no file '{id}' in this run; upload it first (POST /api/runs/{runId}/files)"));
                        return null;
                    }
                    Count(input, Str(node, "name"), file.Size);
                    return new JsonObject { ["name"] = Str(node, "name"), ["media_type"] = Str(node, "media_type"), ["data"] = "" };
                }
                if (IsInline(node) && Str(node, "data") is var data)
                    Count(input, Str(node, "name"), StepInputValidator.Base64Size(data));
                return null;
            });
            if (!ReferenceEquals(replaced, value)) view[input] = replaced;
        }
        using var doc = JsonDocument.Parse(view.ToJsonString());
        return (doc.RootElement.Clone(), errors);

        void Count(string input, string name, long size)
        {
            if (size > options.MaxStepFileBytes)
                errors.Add(new(input, $"'{name}': {RunFileStore.Bytes(size)} is larger than {RunFileStore.Bytes(options.MaxStepFileBytes)}, " +
                                      "the most a step file may have (FEATHER_MAX_STEP_FILE_BYTES)"));
            total += size;
            if (total > options.MaxStepBytes && errors.All(e => !e.Message.Contains("FEATHER_MAX_STEP_BYTES")))
                errors.Add(new(input, $"the step's files add up to more than {RunFileStore.Bytes(options.MaxStepBytes)}, " +
                                      "the most one step may take (FEATHER_MAX_STEP_BYTES)"));
        }
    }

    /// <summary>The responses to keep: inline data is stored as files of the run, every file is a reference.</summary>
    public async Task<JsonNode> StoreAsync(string runId, JsonElement responses, CancellationToken ct)
    {
        var node = JsonNode.Parse(responses.GetRawText())!;
        var inline = new List<JsonObject>();
        node = Walk(node, n =>
        {
            if (IsInline(n)) inline.Add(n.AsObject());
            else if (IsReference(n, out var id) && store.Find(runId, id) is { } file) return Reference(runId, Str(n, "name"), Str(n, "media_type"), file);
            return null;
        })!;
        foreach (var payload in inline)
        {
            var bytes = Convert.FromBase64String(Str(payload, "data"));
            await using var body = new MemoryStream(bytes, writable: false);
            var file = await store.SaveAsync(runId, Str(payload, "name"), Str(payload, "media_type"), body, options.MaxStepFileBytes, "maxStepFileBytes", ct);
            var reference = Reference(runId, Str(payload, "name"), Str(payload, "media_type"), file);
            payload.Clear();
            foreach (var (k, v) in reference.ToList())
            {
                reference.Remove(k);
                payload[k] = v;
            }
        }
        return node;
    }

    /// <summary>
    /// <paramref name="node"/> (stored responses or outputs) as the runtime reads it: every reference becomes
    /// <c>{"name", "media_type", "path": "in/&lt;id&gt;"}</c>, and its file is added to <paramref name="inputs"/> (once).
    /// </summary>
    public JsonNode? ForRuntime(string runId, JsonNode? node, List<StepInputFile> inputs) => Walk(node, n =>
    {
        if (!IsReference(n, out var id) || store.Find(runId, id) is not { } file) return null;
        var path = $"in/{file.Id}";
        if (inputs.All(i => i.Path != path)) inputs.Add(new StepInputFile(path, file.Size, () => store.OpenRead(file)));
        return new JsonObject { ["name"] = Str(n, "name"), ["media_type"] = Str(n, "media_type"), ["path"] = path };
    });

    /// <summary>
    /// The runtime's result line with its output files read from the container into the run: each
    /// <c>{"path": "out/…"}</c> (and inline <c>data</c>, from an older runtime) becomes a reference.
    /// </summary>
    public async Task<JsonElement> CollectOutputsAsync(string runId, JsonElement line, IStepFileSource source, CancellationToken ct)
    {
        var node = JsonNode.Parse(line.GetRawText())!;
        if (node["outputs"] is not JsonArray outputs) return line;
        var found = new List<JsonObject>();
        Walk(outputs, n =>
        {
            if (IsOutputPath(n) || IsInline(n)) found.Add(n.AsObject());
            return null;
        });
        long total = 0;
        foreach (var payload in found)
        {
            var name = Str(payload, "name");
            RunFile file;
            if (IsInline(payload))
            {
                await using var body = new MemoryStream(Convert.FromBase64String(Str(payload, "data")), writable: false);
                total += body.Length;
                CheckOutput(name, body.Length, total);
                file = await store.SaveAsync(runId, name, Str(payload, "media_type"), body, options.MaxStepFileBytes, "maxStepFileBytes", ct);
            }
            else
            {
                var path = Str(payload, "path");
                if (!OutputPath().IsMatch(path))
                    throw new StepFileRefusedException("OutputFileError", $"output file '{name}': '{path}' is not a file under out/ of the file area");
                try
                {
                    file = await source.ReadAsync(path, async (data, size) =>
                    {
                        total += size;
                        CheckOutput(name, size, total);
                        return await store.SaveAsync(runId, name, Str(payload, "media_type"), data, options.MaxStepFileBytes, "maxStepFileBytes", ct);
                    }, ct);
                }
                catch (InvalidDataException e)
                {
                    throw new StepFileRefusedException("OutputFileError", $"output file '{name}': {e.Message}");
                }
            }
            var reference = Reference(runId, name, Str(payload, "media_type"), file);
            payload.Clear();
            foreach (var (k, v) in reference.ToList())
            {
                reference.Remove(k);
                payload[k] = v;
            }
        }
        using var doc = JsonDocument.Parse(node.ToJsonString());
        return doc.RootElement.Clone();
    }

    private void CheckOutput(string name, long size, long total)
    {
        if (size > options.MaxStepFileBytes)
            throw new StepFileRefusedException("OutputTooLarge",
                $"output file '{name}' has {RunFileStore.Bytes(size)}, more than {RunFileStore.Bytes(options.MaxStepFileBytes)}, " +
                "the most a step file may have (FEATHER_MAX_STEP_FILE_BYTES)");
        if (total > options.MaxStepBytes)
            throw new StepFileRefusedException("OutputTooLarge",
                $"the step's output files add up to more than {RunFileStore.Bytes(options.MaxStepBytes)}, the most one step may give (FEATHER_MAX_STEP_BYTES)");
    }

    /// <summary>How the server answers a file: name, media type, id, size and its download link.</summary>
    public static JsonObject Reference(string runId, string name, string mediaType, RunFile file) => new()
    {
        ["name"] = name.Length > 0 ? name : file.Name,
        ["media_type"] = mediaType.Length > 0 ? mediaType : file.MediaType,
        ["file"] = file.Id,
        ["size"] = file.Size,
        ["url"] = Feather.Contracts.Routes.Expand(Feather.Contracts.Routes.RunFile, runId, file.Id),
    };

    private static readonly HashSet<string> ReferenceKeys = ["name", "media_type", "file", "size", "url"];

    private static bool IsReference(JsonNode? node, out string id)
    {
        id = "";
        if (node is not JsonObject o || !IsString(o, "name") || !IsString(o, "media_type") || !IsString(o, "file")) return false;
        if (o.Any(p => !ReferenceKeys.Contains(p.Key))) return false;
        id = Str(o, "file");
        return true;
    }

    private static bool IsInline(JsonNode? node) =>
        node is JsonObject o && o.Count == 3 && IsString(o, "name") && IsString(o, "media_type") && IsString(o, "data") &&
        IsBase64(Str(o, "data"));

    private static bool IsOutputPath(JsonNode? node) =>
        node is JsonObject o && IsString(o, "name") && IsString(o, "media_type") && IsString(o, "path") &&
        o.All(p => p.Key is "name" or "media_type" or "path" or "size");

    private static bool IsBase64(string text) =>
        text.Length % 4 == 0 && Base64().IsMatch(text);

    private static bool IsString(JsonObject o, string key) => o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String;

    private static string Str(JsonNode? node, string key) =>
        node is JsonObject o && o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : "";

    /// <summary>A copy of <paramref name="node"/> where <paramref name="replace"/> swapped nodes (null: keep, and walk into it).</summary>
    private static JsonNode? Walk(JsonNode? node, Func<JsonNode, JsonNode?> replace)
    {
        if (node is null) return null;
        if (replace(node) is { } swapped) return swapped;
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o.ToList())
                {
                    var next = Walk(child, replace);
                    if (!ReferenceEquals(next, child))
                    {
                        o.Remove(key);
                        o[key] = next;
                    }
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    var child = a[i];
                    var next = Walk(child, replace);
                    if (!ReferenceEquals(next, child))
                    {
                        a[i] = null;
                        a[i] = next;
                    }
                }
                break;
        }
        return node;
    }

    [GeneratedRegex("^out/[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex OutputPath();

    [GeneratedRegex(@"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\z")]
    private static partial Regex Base64();
}

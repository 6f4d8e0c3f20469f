using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Runs;

/// <summary>
/// Prints a step readably: text as text, binary payloads as name, media type and size, errors with
/// frames and logs. Everything the model wrote passes <see cref="TerminalText.Safe"/> first.
/// </summary>
public static class StepPrinter
{
    public static void WriteOutputs(TextWriter writer, JsonNode? outputs)
    {
        foreach (var output in outputs as JsonArray ?? [])
        {
            var name = Format.Str(output, "name", "output");
            var component = Format.Str(output, "component");
            writer.WriteLine($"  {name}{(component.Length > 0 ? $" ({component})" : "")}:");
            WriteValue(writer, output?["value"], "    ");
        }
    }

    public static void WriteValue(TextWriter writer, JsonNode? value, string indent)
    {
        switch (value)
        {
            case null:
                writer.WriteLine($"{indent}(none)");
                break;
            case JsonValue when value.GetValueKind() == JsonValueKind.String:
                foreach (var line in TerminalText.Safe(value.GetValue<string>()).Split('\n')) writer.WriteLine(indent + line);
                break;
            case JsonValue:
                writer.WriteLine(indent + value.ToJsonString());
                break;
            case JsonObject obj when IsBinary(obj):
                writer.WriteLine($"{indent}{DescribeBinary(obj)}");
                break;
            case JsonArray list when list.All(i => i is JsonValue && i.GetValueKind() == JsonValueKind.String):
                foreach (var item in list) WriteValue(writer, item, indent);
                break;
            case JsonArray list:
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is JsonValue || (list[i] is JsonObject o && IsBinary(o)))
                    {
                        writer.Write($"{indent}[{i}] ");
                        WriteValue(writer, list[i], "");
                    }
                    else
                    {
                        writer.WriteLine($"{indent}[{i}]");
                        WriteValue(writer, list[i], indent + "  ");
                    }
                }
                break;
            case JsonObject obj:
                foreach (var (key, item) in obj)
                {
                    if (item is JsonValue || (item is JsonObject o && IsBinary(o)))
                    {
                        writer.Write($"{indent}{TerminalText.Safe(key)}: ");
                        WriteValue(writer, item, "");
                    }
                    else
                    {
                        writer.WriteLine($"{indent}{TerminalText.Safe(key)}:");
                        WriteValue(writer, item, indent + "  ");
                    }
                }
                break;
        }
    }

    /// <summary>
    /// Binary data: a file of the run <c>{"name", "media_type", "file", "size", "url"}</c>, or inline
    /// <c>{"name", "media_type", "data": base64}</c> (contracts.md section 3).
    /// </summary>
    public static bool IsBinary(JsonObject obj) =>
        (obj["data"]?.GetValueKind() == JsonValueKind.String || obj["file"]?.GetValueKind() == JsonValueKind.String) &&
        (obj["media_type"] is not null || obj["mediaType"] is not null);

    public static string DescribeBinary(JsonObject obj)
    {
        if (obj["file"] is not null)
        {
            var bytes = obj["size"] is JsonValue v && v.TryGetValue<long>(out var n) ? n : 0;
            return $"{Format.Str(obj, "name", "(unnamed)")}  {Format.Str(obj, "media_type", "application/octet-stream")}  {Format.Bytes(bytes)}  {Format.Str(obj, "url")}";
        }
        var data = obj["data"]!.GetValue<string>();
        var padding = data.EndsWith("==", StringComparison.Ordinal) ? 2 : data.EndsWith('=') ? 1 : 0;
        var size = Math.Max(0, data.Length / 4 * 3 - padding);
        var media = Format.Str(obj, "media_type", Format.Str(obj, "mediaType", "application/octet-stream"));
        return $"{Format.Str(obj, "name", "(unnamed)")}  {media}  {Format.Bytes(size)}";
    }

    public static void WriteError(TextWriter writer, StepView step)
    {
        var error = step.Error.AsNode();
        if (error is JsonObject e)
        {
            var type = Format.Str(e, "type");
            var input = Format.Str(e, "input");
            var message = Format.Str(e, "message", e.ToJsonString());
            writer.WriteLine(input.Length > 0 ? $"  input \"{input}\": {message}"
                : $"  {(type.Length > 0 ? type + ": " : "")}{message}");
            foreach (var frame in e["frames"] as JsonArray ?? [])
            {
                writer.WriteLine($"    {Format.Str(frame, "file")}:{Format.Str(frame, "line")} in {Format.Str(frame, "function")}");
                if (Format.Str(frame, "code") is { Length: > 0 } code) writer.WriteLine($"      {code.Trim()}");
            }
        }
        else if (error is not null) writer.WriteLine($"  {TerminalText.Safe(error.ToString())}");
        WriteLogs(writer, step.Logs, "  ");
    }

    public static void WriteLogs(TextWriter writer, string? logs, string indent)
    {
        if (string.IsNullOrEmpty(logs)) return;
        writer.WriteLine($"{indent}logs:");
        foreach (var line in TerminalText.Safe(logs).TrimEnd('\n').Split('\n')) writer.WriteLine($"{indent}  | {line}");
    }
}

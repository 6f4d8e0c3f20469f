using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Output;

public static class Format
{
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    public static string Duration(TimeSpan span) =>
        span.TotalSeconds < 60 ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.0}s")
        : span.TotalHours < 1 ? $"{(int)span.TotalMinutes}m{span.Seconds:00}s"
        : $"{(int)span.TotalHours}h{span.Minutes:00}m";

    /// <summary>A string property of a JSON object, or the fallback; safe to print on a terminal (<see cref="TerminalText"/>).</summary>
    public static string Str(JsonNode? node, string name, string fallback = "") =>
        node is JsonObject obj && obj[name] is { } value
            ? TerminalText.Safe(value.GetValueKind() switch
            {
                JsonValueKind.String => value.GetValue<string>(),
                JsonValueKind.Null => fallback,
                JsonValueKind.Array => string.Join(", ", value.AsArray().Select(v => v?.ToString())),
                _ => value.ToJsonString(),
            })
            : fallback;

    /// <summary>A timestamp in the reader's terms: 2025-01-31 14:02 (UTC).</summary>
    public static string Time(JsonNode? node, string name) =>
        DateTimeOffset.TryParse(Str(node, name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z"
            : Str(node, name);

    /// <summary>A timestamp of a record in the same terms as <see cref="Time(JsonNode?, string)"/>; empty when absent.</summary>
    public static string Time(DateTime? time) => time is null ? ""
        : (time.Value.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(time.Value, DateTimeKind.Utc) : time.Value)
            .ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z";

    public static string Number(int? number, string fallback = "") =>
        number?.ToString(CultureInfo.InvariantCulture) ?? fallback;

    /// <summary>A model's catalogue tags as <see cref="Tags(JsonNode?)"/> writes them: <c>task: a, b; dataset: c</c>.</summary>
    public static string Tags(Feather.Contracts.CatalogueTags? tags) => tags is null ? "" : TerminalText.Safe(string.Join("; ",
        new[] { ("task", tags.Task), ("dataset", tags.Dataset) }.Where(g => g.Item2 is { Length: > 0 })
            .Select(g => $"{g.Item1}: {string.Join(", ", g.Item2)}")));

    public static string Tags(JsonNode? tags) => TerminalText.Safe(tags switch
    {
        JsonArray list => string.Join(", ", list.Select(t => t?.ToString())),
        JsonObject groups => string.Join("; ", groups.Where(g => g.Value is JsonArray { Count: > 0 })
            .Select(g => $"{g.Key}: {string.Join(", ", g.Value!.AsArray().Select(t => t?.ToString()))}")),
        null => "",
        _ => tags.ToString(),
    });
}

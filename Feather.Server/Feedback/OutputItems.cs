using System.Text.Json;

namespace Feather.Server.Feedback;

/// <summary>
/// What feedback can point at in a step's output (<c>{"name","component","props","value"}</c>, contracts.md §3): its
/// items (the images, documents, files or texts of a multi-item output), what the model answered for the whole or
/// one item as text, and the answers a consumer may choose from (the output's lists or items).
/// </summary>
public static class OutputItems
{
    private static readonly string[] ItemArrays = ["images", "documents", "files", "texts", "items"];

    /// <summary>The number of items of a multi-item output (0: feedback is on the whole output only).</summary>
    public static int Count(JsonElement output)
    {
        if (!output.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.Object) return 0;
        foreach (var name in ItemArrays)
            if (value.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array)
                return array.GetArrayLength();
        return 0;
    }

    /// <summary>The output's answer (for <paramref name="item"/>, or the whole) as text; null when it has none.</summary>
    public static string? Prediction(JsonElement output, int? item)
    {
        if (!output.TryGetProperty("value", out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False) return value.GetRawText();
        if (value.ValueKind != JsonValueKind.Object) return null;
        if (value.TryGetProperty("texts", out var texts) && Text(texts, item) is { } text) return text;
        if (value.TryGetProperty("lists", out var lists) && lists.ValueKind == JsonValueKind.Array && item is { } i && i < lists.GetArrayLength()
            && Text(lists[i], null) is { } list) return list;
        if (value.TryGetProperty("items", out var items) && Text(items, item) is { } chosen) return chosen;
        if (value.TryGetProperty("selected", out var selected)) return selected.GetRawText();
        return null;
    }

    /// <summary>The answers a consumer may choose as the right one: the list of <paramref name="item"/>, or the output's items.</summary>
    public static string[] Choices(JsonElement output, int? item)
    {
        if (!output.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.Object) return [];
        if (value.TryGetProperty("lists", out var lists) && lists.ValueKind == JsonValueKind.Array)
            return item is { } i && i < lists.GetArrayLength() && lists[i].ValueKind == JsonValueKind.Array ? Strings(lists[i]) : [];
        return value.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array ? Strings(items) : [];
    }

    /// <summary>The image (or file) an item shows, <c>{"name","media_type","data"}</c>, when the output has one for it.</summary>
    public static JsonElement? File(JsonElement output, int? item)
    {
        if (!output.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.Object) return null;
        foreach (var name in new[] { "images", "documents", "files" })
            if (value.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array && array.GetArrayLength() > (item ?? 0)
                && array[item ?? 0] is { ValueKind: JsonValueKind.Object } file && file.TryGetProperty("data", out _))
                return file;
        return null;
    }

    private static string? Text(JsonElement e, int? item) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Array when item is { } i => i < e.GetArrayLength() ? Text(e[i], null) : null,
        JsonValueKind.Array => string.Join("\n", e.EnumerateArray().Select(x => Text(x, null) ?? x.GetRawText())),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => null,
    };

    private static string[] Strings(JsonElement array) =>
        array.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : x.GetRawText()).ToArray();
}

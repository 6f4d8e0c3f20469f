using System.Globalization;
using System.Text.Json;

namespace Feather.Server.Runs;

/// <summary>
/// Each interactive component's response check, ported from the SDK (python-sdk/feather) with the
/// same shapes, defaults and messages. <c>props</c> and <c>value</c> are what the component
/// offered: the metadata's <c>init</c> entry for step 0, step k-1's stored output after.
/// Throws <see cref="InvalidResponse"/>.
/// </summary>
public static class ComponentChecks
{
    /// <summary>File.Upload's accepted extensions are lower-cased by the SDK.</summary>
    public static void Check(string component, JsonElement props, JsonElement? value, JsonElement response, long? maxFileBytes)
    {
        switch (component)
        {
            case "File.Upload": Upload(props, response, maxFileBytes); break;
            case "Text.In":
            {
                var body = ExpectObject(response, ["texts"], component);
                CheckTexts(body.GetProperty("texts"), Int(props, "num_inputs", 1), Int(props, "max_chars", 256), "num_inputs");
                break;
            }
            case "List.SelectOne":
            {
                var items = Items(Value(value, component), "items", component);
                var body = ExpectObject(response, ["selected"], component);
                ExpectIndex(body.GetProperty("selected"), items.Count, "selected");
                break;
            }
            case "List.SelectMulti":
            {
                var items = Items(Value(value, component), "items", component);
                var body = ExpectObject(response, ["selected"], component);
                ParseMulti(body.GetProperty("selected"), items.Count, MaxSelected(props), "selected");
                break;
            }
            case "Image.WithSelectOne":
            {
                var lists = Lists(Value(value, component), component);
                var body = ExpectObject(response, ["selected"], component);
                var selected = ExpectList(body.GetProperty("selected"), "selected");
                if (selected.Count != lists.Count)
                    throw new InvalidResponse($"selected: {selected.Count} selections for {lists.Count} images (one per image)");
                for (var i = 0; i < selected.Count; i++) ExpectIndex(selected[i], lists[i], $"image {i}");
                break;
            }
            case "Image.WithSelectMulti":
            {
                var lists = Lists(Value(value, component), component);
                var body = ExpectObject(response, ["selected"], component);
                var selected = ExpectList(body.GetProperty("selected"), "selected");
                if (selected.Count != lists.Count)
                    throw new InvalidResponse($"selected: {selected.Count} selections for {lists.Count} images (one list per image)");
                var max = MaxSelected(props);
                for (var i = 0; i < selected.Count; i++) ParseMulti(selected[i], lists[i], max, $"image {i}");
                break;
            }
            case "Image.WithTextIn":
            {
                var count = Items(Value(value, component), "images", component).Count;
                var body = ExpectObject(response, ["texts"], component);
                CheckTexts(body.GetProperty("texts"), count, Int(props, "max_chars", 256), "one per image");
                break;
            }
            case "Document.WithTextIn":
            {
                var count = Items(Value(value, component), "documents", component).Count;
                var body = ExpectObject(response, ["texts"], component);
                CheckTexts(body.GetProperty("texts"), count, Int(props, "max_chars", 256), "one per document");
                break;
            }
            default:
                throw new InvalidResponse($"{component} takes no response");
        }
    }

    private static void Upload(JsonElement props, JsonElement response, long? maxFileBytes)
    {
        var types = props.TryGetProperty("types", out var t) && t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!.ToLowerInvariant()).ToList()
            : [];
        int min = Int(props, "min_files", 1), max = Int(props, "max_files", 5);
        var body = ExpectObject(response, ["files"], "File.Upload");
        var files = ExpectList(body.GetProperty("files"), "files");
        if (files.Count < min || files.Count > max)
            throw new InvalidResponse($"{files.Count} file(s) given, expected {min} to {max}");
        for (var i = 0; i < files.Count; i++)
        {
            var (name, size) = DecodeBlob(files[i], $"file {i}");
            var ext = Extension(name);
            if (!types.Contains(ext))
                throw new InvalidResponse($"file {i} ({name}): type {(ext.Length > 0 ? ext : "(none)")} not accepted, expected one of {string.Join(", ", types)}");
            if (maxFileBytes is { } limit && size > limit)
                throw new InvalidResponse($"file {i} ({name}): {Bytes(size)}, at most {Bytes(limit)} allowed");
        }
    }

    /// <summary>The SDK's _binary.decode: {name, media_type, data} with standard base64; returns the name and decoded size.</summary>
    public static (string Name, long Size) DecodeBlob(JsonElement payload, string where)
    {
        if (payload.ValueKind != JsonValueKind.Object)
            throw new InvalidResponse($"{where}: expected an object {{name, media_type, data}}, got {Py.TypeName(payload)}");
        var extra = payload.EnumerateObject().Select(p => p.Name).Where(n => n is not ("name" or "media_type" or "data")).Order(StringComparer.Ordinal).ToList();
        if (extra.Count > 0) throw new InvalidResponse($"{where}: unknown field(s) {string.Join(", ", extra)}");
        foreach (var key in new[] { "name", "media_type", "data" })
            if (!payload.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.String)
                throw new InvalidResponse($"{where}: field '{key}' must be a string");
        var name = payload.GetProperty("name").GetString()!;
        if (name.Length == 0) throw new InvalidResponse($"{where}: field 'name' must not be empty");
        var size = Base64Size(payload.GetProperty("data").GetString()!);
        if (size < 0) throw new InvalidResponse($"{where} ({name}): 'data' is not valid standard base64");
        return (name, size);
    }

    /// <summary>The decoded length of strict standard base64 (Python's b64decode(validate=True)), or -1.</summary>
    public static long Base64Size(string data)
    {
        if (data.Length % 4 != 0) return -1;
        var padding = data.EndsWith("==", StringComparison.Ordinal) ? 2 : data.EndsWith('=') ? 1 : 0;
        for (var i = 0; i < data.Length - padding; i++)
        {
            var c = data[i];
            if (!(c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '+' or '/')) return -1;
        }
        return data.Length / 4 * 3L - padding;
    }

    /// <summary>The SDK's file_ext: from the last dot (not a leading one), lower-cased.</summary>
    public static string Extension(string name)
    {
        var dot = name.LastIndexOf('.');
        return dot > 0 ? name[dot..].ToLowerInvariant() : "";
    }

    private static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):0.#} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):0.#} MiB",
        >= 1L << 10 => $"{n / 1024.0:0.#} KiB",
        _ => $"{n} bytes",
    };

    // ---- shared helpers, as in component.py ----------------------------------------------

    public static JsonElement ExpectObject(JsonElement response, string[] keys, string component)
    {
        var shape = $"a {component} response is {{{string.Join(", ", keys.Select(k => $"'{k}'"))}}}";
        if (response.ValueKind != JsonValueKind.Object)
            throw new InvalidResponse($"expected an object with {string.Join(", ", keys.Select(k => $"'{k}'"))}, got {Py.TypeName(response)}");
        foreach (var key in keys)
            if (!response.TryGetProperty(key, out _))
                throw new InvalidResponse($"missing field '{key}' ({shape})");
        var extra = response.EnumerateObject().Select(p => p.Name).Where(n => !keys.Contains(n)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (extra is not null) throw new InvalidResponse($"unknown field '{extra}' ({shape})");
        return response;
    }

    public static List<JsonElement> ExpectList(JsonElement value, string what) =>
        value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().ToList()
            : throw new InvalidResponse($"{what} must be a list, got {Py.TypeName(value)}");

    public static int ExpectIndex(JsonElement value, int size, string what)
    {
        if (!Py.IsInt(value, out var index))
            throw new InvalidResponse($"{what} must be an integer index, got {Py.Repr(value)}");
        if (index < 0 || index >= size)
            throw new InvalidResponse(size > 0
                ? $"{what}: index {index.ToString(CultureInfo.InvariantCulture)} is out of range (0..{size - 1})"
                : $"{what}: index {index.ToString(CultureInfo.InvariantCulture)} is out of range (there are no items)");
        return (int)index;
    }

    public static void ParseMulti(JsonElement selected, int size, int? maxSelected, string what)
    {
        var list = ExpectList(selected, what);
        var seen = new HashSet<int>();
        for (var j = 0; j < list.Count; j++)
        {
            var index = ExpectIndex(list[j], size, $"{what}[{j}]");
            if (!seen.Add(index)) throw new InvalidResponse($"{what}: index {index} selected twice");
        }
        if (maxSelected is { } max && list.Count > max)
            throw new InvalidResponse($"{what}: {list.Count} items selected, at most {max} allowed");
    }

    public static void CheckTexts(JsonElement texts, int count, int maxChars, string what)
    {
        var list = ExpectList(texts, "texts");
        if (list.Count != count)
            throw new InvalidResponse($"expected {count} text(s) ({what}), got {list.Count}");
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].ValueKind != JsonValueKind.String)
                throw new InvalidResponse($"text {i}: must be a string, got {Py.TypeName(list[i])}");
            // Python counts code points, not UTF-16 units.
            var length = list[i].GetString()!.EnumerateRunes().Count();
            if (length > maxChars)
                throw new InvalidResponse($"text {i}: {length} characters, at most {maxChars} allowed");
        }
    }

    // ---- what the component offered -------------------------------------------------------

    private static JsonElement Value(JsonElement? value, string component) =>
        value is { ValueKind: JsonValueKind.Object } v
            ? v
            : throw new InvalidResponse($"the offered {component} has no value to choose from");

    private static List<JsonElement> Items(JsonElement value, string key, string component) =>
        value.TryGetProperty(key, out var items) && items.ValueKind == JsonValueKind.Array
            ? items.EnumerateArray().ToList()
            : throw new InvalidResponse($"the offered {component} has no '{key}' list");

    /// <summary>The size of each image's list.</summary>
    private static List<int> Lists(JsonElement value, string component)
    {
        var images = Items(value, "images", component).Count;
        var lists = Items(value, "lists", component);
        if (lists.Count != images || lists.Any(l => l.ValueKind != JsonValueKind.Array))
            throw new InvalidResponse($"the offered {component} does not have one list of items per image");
        return lists.Select(l => l.GetArrayLength()).ToList();
    }

    private static int? MaxSelected(JsonElement props) =>
        props.TryGetProperty("max_selected", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt32(out var n) ? n : null;

    private static int Int(JsonElement props, string key, int fallback) =>
        props.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : fallback;
}

/// <summary>How Python (the SDK) names JSON values in its messages.</summary>
public static class Py
{
    public static string TypeName(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "dict",
        JsonValueKind.Array => "list",
        JsonValueKind.String => "str",
        JsonValueKind.True or JsonValueKind.False => "bool",
        JsonValueKind.Null or JsonValueKind.Undefined => "NoneType",
        _ => IsInt(e, out _) ? "int" : "float",
    };

    /// <summary>A JSON number written as an integer (Python's json gives int for it; 1.0 is a float).</summary>
    public static bool IsInt(JsonElement e, out long value)
    {
        value = 0;
        if (e.ValueKind != JsonValueKind.Number) return false;
        var raw = e.GetRawText();
        if (raw.IndexOfAny(['.', 'e', 'E']) >= 0) return false;
        if (e.TryGetInt64(out value)) return true;
        value = raw.StartsWith('-') ? long.MinValue : long.MaxValue; // out of range either way
        return true;
    }

    public static string Repr(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "'" + e.GetString()!.Replace("\\", "\\\\").Replace("'", "\\'") + "'",
        JsonValueKind.True => "True",
        JsonValueKind.False => "False",
        JsonValueKind.Null => "None",
        _ => e.GetRawText(),
    };
}

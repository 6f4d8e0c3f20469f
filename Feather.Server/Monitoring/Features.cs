using System.Text.Json;
using SkiaSharp;

namespace Feather.Server.Monitoring;

/// <summary>One observation of a feature: a number (binned by <see cref="Bins"/>) or a category.</summary>
public sealed record Observation(string Key, int Step, string Direction, string Name, string Component, string Statistic, double? Value,
    string? Category);

/// <summary>The fixed bins of each numeric statistic, so histograms of different days and versions line up.</summary>
public static class Bins
{
    private static readonly double[] Pixels = [32, 64, 128, 256, 512, 1024, 2048, 4096];
    private static readonly double[] Intensity = Enumerable.Range(1, 15).Select(i => i * 16.0).ToArray();
    private static readonly double[] Length = [1, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];
    private static readonly double[] Fraction = Enumerable.Range(1, 9).Select(i => i / 10.0).ToArray();
    private static readonly double[] Count = [1, 2, 3, 5, 10, 20, 50];
    private static readonly double[] Kilobytes = [1, 10, 100, 1000, 10_000, 100_000];

    /// <summary>Upper edges (exclusive) of every bin but the last, which is open.</summary>
    public static double[] Edges(string statistic) => statistic switch
    {
        "width" or "height" => Pixels,
        "brightness" or "red" or "green" or "blue" => Intensity,
        "length" => Length,
        "letters" or "digits" => Fraction,
        "kilobytes" => Kilobytes,
        _ => Count,
    };

    public static int Of(string statistic, double value)
    {
        var edges = Edges(statistic);
        var i = 0;
        while (i < edges.Length && value >= edges[i]) i++;
        return i;
    }

    public static string[] Labels(string statistic)
    {
        var edges = Edges(statistic);
        var labels = new string[edges.Length + 1];
        for (var i = 0; i <= edges.Length; i++)
            labels[i] = i == 0 ? $"< {edges[0]:0.##}" : i == edges.Length ? $"≥ {edges[^1]:0.##}" : $"{edges[i - 1]:0.##}–{edges[i]:0.##}";
        return labels;
    }
}

/// <summary>
/// The cheap statistics of a step's inputs (its responses) and outputs, read from their JSON as a run arrives: images
/// (width, height, brightness, channel means; decoded with SkiaSharp at a reduced scale), texts (length, share of letters
/// and digits), selections and short output texts (the distribution of choices), lists (the number of items), other files (size).
/// </summary>
public static class Features
{
    /// <summary>Images larger than this many pixels are measured by their size only (a decompression bomb is never decoded).</summary>
    public const long MaxDecodedPixels = 50_000_000;
    private const int MaxTexts = 32, MaxFiles = 16, CategoryLength = 40;

    public static List<Observation> Extract(int step, string? responsesJson, string? outputsJson)
    {
        var found = new List<Observation>();
        if (responsesJson is not null)
        {
            using var responses = JsonDocument.Parse(responsesJson);
            if (responses.RootElement.ValueKind == JsonValueKind.Object)
                foreach (var input in responses.RootElement.EnumerateObject())
                    Value(found, step, "input", input.Name, "", input.Value, categoriesOfTexts: false);
        }
        if (outputsJson is not null)
        {
            using var outputs = JsonDocument.Parse(outputsJson);
            if (outputs.RootElement.ValueKind == JsonValueKind.Array)
                foreach (var output in outputs.RootElement.EnumerateArray())
                {
                    if (output.ValueKind != JsonValueKind.Object || !output.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String) continue;
                    var component = output.TryGetProperty("component", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                    if (output.TryGetProperty("value", out var value)) Value(found, step, "output", n.GetString()!, component, value, categoriesOfTexts: true);
                }
        }
        return found;
    }

    private static void Value(List<Observation> found, int step, string direction, string name, string component, JsonElement value,
        bool categoriesOfTexts)
    {
        void Number(string statistic, double v) =>
            found.Add(new($"{step}/{direction}/{name}/{statistic}", step, direction, name, component, statistic, v, null));
        void Category(string statistic, string category) =>
            found.Add(new($"{step}/{direction}/{name}/{statistic}", step, direction, name, component, statistic, null, category));

        if (value.ValueKind != JsonValueKind.Object) return;
        foreach (var files in new[] { "files", "images", "documents" })
            if (value.TryGetProperty(files, out var list) && list.ValueKind == JsonValueKind.Array)
            {
                Number("count", list.GetArrayLength());
                foreach (var file in list.EnumerateArray().Take(MaxFiles))
                    File(file, Number);
            }
        if (value.TryGetProperty("texts", out var texts))
        {
            var all = texts.ValueKind == JsonValueKind.String ? [texts] : texts.ValueKind == JsonValueKind.Array ? texts.EnumerateArray().ToArray() : [];
            foreach (var text in all.Where(t => t.ValueKind == JsonValueKind.String).Take(MaxTexts))
            {
                var s = text.GetString()!;
                Number("length", s.Length);
                if (s.Length > 0)
                {
                    Number("letters", s.Count(char.IsLetter) / (double)s.Length);
                    Number("digits", s.Count(char.IsDigit) / (double)s.Length);
                }
                if (categoriesOfTexts && s.Length is > 0 and <= CategoryLength) Category("labels", s.Trim().ToLowerInvariant());
            }
        }
        if (value.TryGetProperty("selected", out var selected))
            foreach (var choice in Flatten(selected)) Category("choices", choice);
        if (value.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array)
            Number("items", items.GetArrayLength());
        if (value.TryGetProperty("lists", out var lists) && lists.ValueKind == JsonValueKind.Array)
            foreach (var l in lists.EnumerateArray().Where(l => l.ValueKind == JsonValueKind.Array).Take(MaxFiles))
                Number("items", l.GetArrayLength());
    }

    private static IEnumerable<string> Flatten(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number => [e.GetRawText()],
        JsonValueKind.Array => e.EnumerateArray().Take(MaxTexts).SelectMany(Flatten),
        _ => [],
    };

    private static void File(JsonElement file, Action<string, double> number)
    {
        if (file.ValueKind != JsonValueKind.Object || !file.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.String) return;
        byte[] bytes;
        try { bytes = Convert.FromBase64String(data.GetString()!); } catch (FormatException) { return; }
        var media = file.TryGetProperty("media_type", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
        var fileName = file.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
        if (!media.StartsWith("image/", StringComparison.Ordinal) &&
            Path.GetExtension(fileName).ToLowerInvariant() is not (".png" or ".jpg" or ".jpeg" or ".gif" or ".webp" or ".bmp"))
        {
            number("kilobytes", bytes.Length / 1024.0);
            return;
        }
        Image(bytes, number);
    }

    /// <summary>Width and height from the header; brightness and channel means from a decode at most 256 pixels wide.</summary>
    public static void Image(byte[] bytes, Action<string, double> number)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null) return;
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        number("width", width);
        number("height", height);
        if (width <= 0 || height <= 0 || (long)width * height > MaxDecodedPixels) return;
        var scale = Math.Min(1f, 256f / Math.Max(width, height));
        var size = codec.GetScaledDimensions(scale);
        using var bitmap = new SKBitmap(new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        SKBitmap? decoded = null;
        try
        {
            var source = bitmap;
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            {
                // a codec that cannot scale (PNG): decode whole, then sample
                decoded = SKBitmap.Decode(codec, new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
                if (decoded is null) return;
                source = decoded;
            }
            var step = Math.Max(1, Math.Max(source.Width, source.Height) / 256);
            double r = 0, g = 0, b = 0;
            long count = 0;
            for (var y = 0; y < source.Height; y += step)
                for (var x = 0; x < source.Width; x += step)
                {
                    var c = source.GetPixel(x, y);
                    r += c.Red; g += c.Green; b += c.Blue; count++;
                }
            if (count == 0) return;
            (r, g, b) = (r / count, g / count, b / count);
            number("brightness", 0.299 * r + 0.587 * g + 0.114 * b);
            number("red", r);
            number("green", g);
            number("blue", b);
        }
        finally
        {
            decoded?.Dispose();
        }
    }
}

using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Datasets;

namespace Feather.Server.Feedback;

/// <summary>
/// Writes a model's feedback as a dataset directory (docs/datasets.md), zipped: <c>dataset.json</c>,
/// <c>records.jsonl</c> and <c>images/N.ext</c>. One record per piece of feedback: the input (the image of the item
/// when every record has one, and the step's responses as text, files by name), the model's prediction, the
/// corrected label, the rating and the comment. Prediction, label, rating and comment have the role <c>label</c>, so
/// an evaluation never shows them to a model.
/// </summary>
public static class FeedbackExport
{
    public static async Task WriteZipAsync(Stream destination, string modelName, IReadOnlyList<FeedbackRecord> feedback,
        Func<string, FeedbackShareRecord?> share, CancellationToken ct)
    {
        var rows = new List<(FeedbackRecord F, JsonObject Input, (string Name, byte[] Bytes)? Image, bool FromChoices)>();
        foreach (var f in feedback)
        {
            var s = share(f.ShareId);
            using var inputs = JsonDocument.Parse(s?.InputsJson ?? "{}");
            using var outputs = JsonDocument.Parse(s?.OutputsJson ?? "[]");
            var output = outputs.RootElement.ValueKind == JsonValueKind.Array
                ? outputs.RootElement.EnumerateArray().FirstOrDefault(o => o.TryGetProperty("name", out var n) && n.GetString() == f.Output)
                : default;
            var file = output.ValueKind == JsonValueKind.Object ? OutputItems.File(output, f.Item) : null;
            file ??= InputFile(inputs.RootElement, f.Item);
            (string, byte[])? image = null;
            if (file is { } blob && blob.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.String)
            {
                var name = blob.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
                var extension = Path.GetExtension(name).ToLowerInvariant();
                if (!DatasetRecords.ImageExtensions.Contains(extension)) extension = MediaExtension(blob);
                if (extension is not null)
                    try { image = (extension, Convert.FromBase64String(data.GetString()!)); } catch (FormatException) { }
            }
            rows.Add((f, WithoutData(inputs.RootElement), image, f.LabelItem is not null));
        }

        var withImages = rows.Count > 0 && rows.All(r => r.Image is not null);
        var fields = new JsonArray();
        if (withImages) fields.Add(Field("image", "image", "input", "the image the feedback is about (the item of the output, else the step's uploaded file)"));
        fields.Add(Field("input", "text", "input", "the step's inputs as JSON, files by name"));
        fields.Add(Field("prediction", "text", "label", "what the model answered"));
        fields.Add(Field("label", "text", "label", "the right answer: corrected by the consumer, or the prediction when rated correct (empty when unknown)"));
        fields.Add(Field("rating", "text", "label", "correct, incorrect or empty"));
        fields.Add(Field("comment", "text", "label", "the consumer's comment"));
        fields.Add(Field("version", "integer", "label", "the model version that answered"));
        var datasetName = Slug($"{modelName}-feedback");
        var manifest = new JsonObject
        {
            ["name"] = datasetName,
            ["title"] = $"Feedback on {modelName}",
            ["description"] = $"{rows.Count} pieces of feedback from the consumers of {modelName}, exported {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.",
            ["task"] = withImages && rows.All(r => r.FromChoices) ? "image-classification"
                : rows.Count > 0 && rows.All(r => r.FromChoices) ? "text-classification" : "text-generation",
            ["records"] = "records.jsonl",
            ["fields"] = fields,
        };

        using var zip = new ZipArchive(destination, ZipArchiveMode.Create, leaveOpen: true);
        await Write(zip, "dataset.json", Encoding.UTF8.GetBytes(manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true })), ct);
        var records = zip.CreateEntry("records.jsonl", CompressionLevel.Fastest);
        await using (var writer = new StreamWriter(records.Open(), new UTF8Encoding(false)))
        {
            for (var i = 0; i < rows.Count; i++)
            {
                var (f, input, image, _) = rows[i];
                var record = new JsonObject();
                if (withImages) record["image"] = $"images/{i:D5}{image!.Value.Name}";
                record["input"] = input.ToJsonString();
                record["prediction"] = f.Prediction ?? "";
                record["label"] = f.Answer ?? "";
                record["rating"] = f.Rating ?? "";
                record["comment"] = f.Comment ?? "";
                record["version"] = f.Version;
                await writer.WriteLineAsync(record.ToJsonString().AsMemory(), ct);
            }
        }
        if (withImages)
            for (var i = 0; i < rows.Count; i++)
                await Write(zip, $"images/{i:D5}{rows[i].Image!.Value.Name}", rows[i].Image!.Value.Bytes, ct);
    }

    private static async Task Write(ZipArchive zip, string path, byte[] bytes, CancellationToken ct)
    {
        await using var stream = zip.CreateEntry(path, CompressionLevel.Fastest).Open();
        await stream.WriteAsync(bytes, ct);
    }

    private static JsonObject Field(string name, string type, string role, string description) =>
        new() { ["name"] = name, ["type"] = type, ["role"] = role, ["description"] = description };

    /// <summary>The <paramref name="item"/>-th (else the first) uploaded file among the step's responses.</summary>
    private static JsonElement? InputFile(JsonElement responses, int? item)
    {
        if (responses.ValueKind != JsonValueKind.Object) return null;
        foreach (var response in responses.EnumerateObject())
            if (response.Value.ValueKind == JsonValueKind.Object && response.Value.TryGetProperty("files", out var files)
                && files.ValueKind == JsonValueKind.Array && files.GetArrayLength() > 0)
                return files[item is { } i && i < files.GetArrayLength() ? i : 0];
        return null;
    }

    private static string? MediaExtension(JsonElement blob) =>
        (blob.TryGetProperty("media_type", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null) switch
        {
            "image/png" => ".png", "image/jpeg" => ".jpg", "image/gif" => ".gif", "image/webp" => ".webp", "image/bmp" => ".bmp",
            _ => null,
        };

    /// <summary>The responses with every file's base64 data left out (its name, media type and size stay).</summary>
    private static JsonObject WithoutData(JsonElement responses)
    {
        var node = JsonNode.Parse(responses.ValueKind == JsonValueKind.Object ? responses.GetRawText() : "{}")!.AsObject();
        Strip(node);
        return node;

        static void Strip(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    if (o["data"] is JsonValue v && v.TryGetValue<string>(out var data))
                    {
                        o.Remove("data");
                        o["size"] = (data.Length * 3 / 4) - (data.EndsWith("==") ? 2 : data.EndsWith('=') ? 1 : 0);
                    }
                    foreach (var (_, child) in o.ToList()) Strip(child);
                    break;
                case JsonArray a:
                    foreach (var child in a) Strip(child);
                    break;
            }
        }
    }

    /// <summary>A dataset name: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters.</summary>
    private static string Slug(string text)
    {
        var slug = new string(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        if (slug.Length > 63) slug = slug[..63].TrimEnd('-');
        return slug.Length == 0 ? "feedback" : slug;
    }
}

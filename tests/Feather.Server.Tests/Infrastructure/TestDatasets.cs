using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Feather.Server.Tests.Infrastructure;

/// <summary>A small dataset to publish through the HTTP API: a manifest, a CSV of records and the image files they name.</summary>
public sealed class TestDataset
{
    public string Name { get; init; } = "digits-mini";
    public string Task { get; init; } = "image-classification";
    public Dictionary<string, byte[]> Files { get; init; } = Default();
    public string Records { get; init; } = "records.csv";
    public Action<JsonObject>? Customize { get; init; }

    /// <summary>Bytes of a tiny PNG-named file (the server does not decode images; the name and the bytes matter).</summary>
    public static byte[] Image(int n) => Encoding.ASCII.GetBytes($"\x89PNG fake image {n}");

    public static Dictionary<string, byte[]> Default() => new()
    {
        ["records.csv"] = Encoding.UTF8.GetBytes("image,label\nimages/0.png,0\nimages/1.png,1\nimages/2.png,1\n"),
        ["images/0.png"] = Image(0),
        ["images/1.png"] = Image(1),
        ["images/2.png"] = Image(2),
    };

    public JsonObject Manifest()
    {
        var manifest = new JsonObject
        {
            ["name"] = Name, ["title"] = "Digits (mini)", ["description"] = "Three digits for tests.", ["task"] = Task,
            ["licence"] = "BSD-3-Clause", ["citation"] = "Alpaydin & Kaynak, 1998", ["records"] = Records,
            ["fields"] = new JsonArray(
                new JsonObject { ["name"] = "image", ["type"] = "image", ["role"] = "input" },
                new JsonObject { ["name"] = "label", ["type"] = "label", ["role"] = "label", ["classes"] = new JsonArray("0", "1") }),
        };
        Customize?.Invoke(manifest);
        return manifest;
    }

    public JsonArray FileList() => new(Files.Select(f => (JsonNode)new JsonObject
    {
        ["path"] = f.Key, ["size"] = f.Value.Length, ["sha256"] = Http.Sha256(f.Value), ["kind"] = f.Key == Records ? "records" : "file",
    }).ToArray());

    public JsonObject StartBody(string? owner = null, string? visibility = null) => new()
    {
        ["owner"] = owner, ["manifest"] = Manifest(), ["files"] = FileList(), ["notes"] = "test publish", ["visibility"] = visibility,
    };

    public async Task<JsonNode> StartAsync(HttpClient client, string? owner = null, string? visibility = null) =>
        await (await client.PostAsJsonAsync("/api/dataset-publishes", StartBody(owner, visibility))).Json(HttpStatusCode.Created);

    /// <summary>start → upload every requested file → complete; returns the complete answer.</summary>
    public async Task<JsonNode> PublishAsync(HttpClient client, string? owner = null, string? visibility = null)
    {
        var start = await StartAsync(client, owner, visibility);
        await UploadAllAsync(start);
        return await (await client.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
    }

    public async Task UploadAllAsync(JsonNode start)
    {
        using var anonymous = new HttpClient();
        foreach (var upload in start["uploads"]!.AsArray())
        {
            var content = new ByteArrayContent(Files[upload!["path"]!.GetValue<string>()]);
            content.Headers.ContentType = new("application/octet-stream");
            await (await anonymous.PutAsync(upload["url"]!.GetValue<string>(), content)).Json(HttpStatusCode.NoContent);
        }
    }
}

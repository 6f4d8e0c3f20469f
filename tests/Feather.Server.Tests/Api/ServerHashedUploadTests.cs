using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>
/// A model publish may list a large file without its SHA-256 (with its modification time): the server names it by the
/// hash of the bytes it receives, answers that hash in <c>Upload-Sha256</c>, and records the version with it.
/// </summary>
public class ServerHashedUploadTests
{
    private static readonly byte[] Weights = Enumerable.Range(0, 2 * 1024 * 1024 + 5).Select(i => (byte)(i * 7 % 253)).ToArray();
    private static readonly DateTime Modified = new(2026, 11, 30, 12, 0, 0, 123, DateTimeKind.Utc);

    private static TestModel Model() => new() { Name = "unhashed", Files = new() { ["model.py"] = "print('hi')\n"u8.ToArray(), ["weights.bin"] = Weights } };

    /// <summary>The model's start body with weights.bin listed without a hash (<paramref name="modified"/> null: without a time either).</summary>
    private static JsonObject StartBody(TestModel model, DateTime? modified)
    {
        var body = model.StartBody();
        var weights = body["files"]!.AsArray().Single(f => f!["path"]!.GetValue<string>() == "weights.bin")!.AsObject();
        weights["sha256"] = null;
        if (modified is { } at) weights["modified"] = at.ToString("O");
        return body;
    }

    private static string UrlOf(JsonNode start, string path) =>
        start["uploads"]!.AsArray().First(u => u!["path"]!.GetValue<string>() == path)!["url"]!.GetValue<string>();

    private static async Task<(long Offset, string? Sha256)> HeadAsync(HttpClient http, string url)
    {
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (long.Parse(response.Headers.GetValues("Upload-Offset").Single()),
            response.Headers.TryGetValues("Upload-Sha256", out var sha) ? sha.Single() : null);
    }

    private static Task<HttpResponseMessage> PatchAsync(HttpClient http, string url, long offset, byte[] data, int from, int count)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = new ByteArrayContent(data, from, count) };
        request.Headers.Add("Upload-Offset", offset.ToString());
        return http.SendAsync(request);
    }

    [Fact]
    public async Task A_file_listed_without_a_hash_is_stored_under_the_hash_of_what_arrived()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        using var anonymous = new HttpClient();
        var model = Model();
        var sha = Http.Sha256(Weights);

        var start = await (await client.PostAsJsonAsync("/api/publish", StartBody(model, Modified))).Json(HttpStatusCode.Created);
        var publishId = start["publishId"]!.GetValue<string>();
        var url = UrlOf(start, "weights.bin");
        Assert.DoesNotContain(sha, url);
        Assert.Equal((0L, null), await HeadAsync(anonymous, url));

        var half = Weights.Length / 2;
        using (var first = await PatchAsync(anonymous, url, 0, Weights, 0, half))
        {
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
            Assert.False(first.Headers.Contains("Upload-Sha256"), "no hash before the file is complete");
        }
        using (var code = await PatchAsync(anonymous, UrlOf(start, "model.py"), 0, model.Files["model.py"], 0, model.Files["model.py"].Length))
            Assert.Equal(HttpStatusCode.NoContent, code.StatusCode);
        var early = await (await client.PostAsync($"/api/publish/{publishId}/complete", null)).Json(HttpStatusCode.Conflict);
        Assert.Contains("weights.bin", early["detail"]!.GetValue<string>());

        using (var rest = await PatchAsync(anonymous, url, half, Weights, half, Weights.Length - half))
        {
            Assert.Equal(HttpStatusCode.NoContent, rest.StatusCode);
            Assert.Equal(sha, rest.Headers.GetValues("Upload-Sha256").Single());
        }
        Assert.Equal((Weights.Length, sha), await HeadAsync(anonymous, url));

        await (await client.PostAsync($"/api/publish/{publishId}/complete", null)).Json(HttpStatusCode.Created);
        var version = await (await client.GetAsync("/api/models/admin/unhashed/versions/1")).Json(HttpStatusCode.OK);
        var file = version["files"]!.AsArray().Single(f => f!["path"]!.GetValue<string>() == "weights.bin")!;
        Assert.Equal(sha, file["sha256"]!.GetValue<string>());
        Assert.Equal(Weights, await File.ReadAllBytesAsync(Path.Combine(server.DataDirectory, "blobs", sha[..2], sha[2..])));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDirectory, "staging")));

        // the next publish names the file by its hash: the server holds it, nothing is uploaded
        var again = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
        Assert.Contains("weights.bin", again["alreadyStored"]!.AsArray().Select(p => p!.GetValue<string>()));
    }

    [Fact]
    public async Task A_publish_started_again_resumes_a_file_without_a_hash_only_if_it_has_not_changed()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        using var anonymous = new HttpClient();
        var model = Model();

        var start = await (await client.PostAsJsonAsync("/api/publish", StartBody(model, Modified))).Json(HttpStatusCode.Created);
        using (var first = await PatchAsync(anonymous, UrlOf(start, "weights.bin"), 0, Weights, 0, 1000))
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);

        // the same file (same path, size and modification time, to the tick): the same publish and its staged bytes
        var same = await (await client.PostAsJsonAsync("/api/publish", StartBody(model, Modified))).Json(HttpStatusCode.Created);
        Assert.Equal(start["publishId"]!.GetValue<string>(), same["publishId"]!.GetValue<string>());
        Assert.Equal(1000, (await HeadAsync(anonymous, UrlOf(same, "weights.bin"))).Offset);

        // modified since (a tenth of a millisecond later): a new publish that starts the file over
        var changed = await (await client.PostAsJsonAsync("/api/publish", StartBody(model, Modified.AddTicks(1000)))).Json(HttpStatusCode.Created);
        Assert.NotEqual(start["publishId"]!.GetValue<string>(), changed["publishId"]!.GetValue<string>());
        Assert.Equal(0, (await HeadAsync(anonymous, UrlOf(changed, "weights.bin"))).Offset);

        // an upload URL is signed for its file: another file's key with this signature is refused
        var url = UrlOf(changed, "weights.bin");
        var key = url.Split('/').Last().Split('?')[0];
        Assert.StartsWith("file-", key);
        using var forged = new HttpRequestMessage(HttpMethod.Head, url.Replace($"/{key}?", "/file-0?"));
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.SendAsync(forged)).StatusCode);
    }

    [Fact]
    public async Task A_file_without_a_hash_can_be_put_in_one_request()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        using var anonymous = new HttpClient();
        var start = await (await client.PostAsJsonAsync("/api/publish", StartBody(Model(), Modified))).Json(HttpStatusCode.Created);
        var url = UrlOf(start, "weights.bin");

        // a short body stays staged, and the answer says where to go on from
        var shortBody = await (await anonymous.PutAsync(url, new ByteArrayContent(Weights, 0, 100))).Json(HttpStatusCode.BadRequest);
        Assert.Contains("send the rest with PATCH from byte 100", shortBody["detail"]!.GetValue<string>());
        using (var rest = await PatchAsync(anonymous, url, 100, Weights, 100, Weights.Length - 100))
            Assert.Equal(Http.Sha256(Weights), rest.Headers.GetValues("Upload-Sha256").Single());

        var other = await (await client.PostAsJsonAsync("/api/publish", StartBody(Model(), Modified.AddDays(1)))).Json(HttpStatusCode.Created);
        using var put = await anonymous.PutAsync(UrlOf(other, "weights.bin"), new ByteArrayContent(Weights));
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        Assert.Equal(Http.Sha256(Weights), put.Headers.GetValues("Upload-Sha256").Single());
    }

    private static string Errors(JsonNode problem) =>
        string.Join("; ", problem["errors"]!.AsObject().SelectMany(e => e.Value!.AsArray().Select(v => $"{e.Key}: {v!.GetValue<string>()}")));

    [Fact]
    public async Task A_file_without_a_hash_needs_its_modification_time_and_datasets_need_every_hash()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());

        var noTime = await (await client.PostAsJsonAsync("/api/publish", StartBody(Model(), modified: null))).Json(HttpStatusCode.BadRequest);
        Assert.Contains("a file without 'sha256' needs 'modified'", Errors(noTime));

        var dataset = new TestDataset().StartBody();
        dataset["files"]![0]!["sha256"] = null;
        var refused = await (await client.PostAsJsonAsync("/api/dataset-publishes", dataset)).Json(HttpStatusCode.BadRequest);
        Assert.Contains("'sha256' must be 64 hex digits", Errors(refused));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDirectory, "staging")));
    }
}

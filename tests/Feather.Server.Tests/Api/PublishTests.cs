using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

public class PublishTests
{
    private static int BlobCount(FeatherTestServer server) =>
        Directory.Exists(Path.Combine(server.DataDirectory, "blobs"))
            ? Directory.EnumerateFiles(Path.Combine(server.DataDirectory, "blobs"), "*", SearchOption.AllDirectories).Count() : 0;

    [Fact]
    public async Task Publish_uploads_only_new_files_and_records_numbered_versions()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel();

        var first = await model.PublishAsync(client);
        Assert.Equal(1, first["version"]!["number"]!.GetValue<int>());
        Assert.Equal("admin", first["owner"]!.GetValue<string>());
        Assert.Equal("hello", first["model"]!.GetValue<string>());
        Assert.Equal("pending", first["version"]!["imageStatus"]!.GetValue<string>());
        Assert.Equal(2, BlobCount(server));
        var blob = Path.Combine(server.DataDirectory, "blobs", Http.Sha256(model.Files["model.py"])[..2], Http.Sha256(model.Files["model.py"])[2..]);
        Assert.Equal(model.Files["model.py"], await File.ReadAllBytesAsync(blob));

        // Same bytes again: nothing to upload.
        var again = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
        Assert.Empty(again["uploads"]!.AsArray());
        Assert.Equal(2, again["alreadyStored"]!.AsArray().Count);
        var second = await (await client.PostAsync($"/api/publish/{again["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
        Assert.Equal(2, second["version"]!["number"]!.GetValue<int>());
        Assert.Equal(2, BlobCount(server));

        var detail = await (await client.GetAsync("/api/models/admin/hello")).Json(HttpStatusCode.OK);
        Assert.Equal(2, detail["liveVersion"]!.GetValue<int>());
        Assert.Equal(2, detail["versions"]!.AsArray().Count);
        Assert.Equal("hello", detail["metadata"]!["name"]!.GetValue<string>());
        var v1 = await (await client.GetAsync("/api/models/admin/hello/versions/1")).Json(HttpStatusCode.OK);
        Assert.Equal("test publish", v1["notes"]!.GetValue<string>());
        Assert.Equal(2, v1["files"]!.AsArray().Count);
        Assert.Equal("admin", v1["publisher"]!.GetValue<string>());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDirectory, "staging")));
    }

    [Fact]
    public async Task Knowing_the_hash_of_someone_elses_file_does_not_let_a_publish_skip_uploading_it()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var admin = server.Client(await server.AdminTokenAsync());
        var secret = new TestModel { Files = new() { ["model.py"] = "print('x')"u8.ToArray(), ["weights.bin"] = "private weights"u8.ToArray() } };
        await secret.PublishAsync(admin); // private by default

        using var mallory = server.Client(await server.UserTokenAsync("mallory"));
        var copy = new TestModel { Name = "copy", Files = secret.Files };
        var start = await (await mallory.PostAsJsonAsync("/api/publish", copy.StartBody())).Json(HttpStatusCode.Created);
        Assert.Empty(start["alreadyStored"]!.AsArray()); // the server does not say it holds them
        Assert.Equal(2, start["uploads"]!.AsArray().Count);
        // completing without the bytes is refused: she has to have the file to publish it
        var refused = await (await mallory.PostAsync($"/api/publish/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Conflict);
        Assert.Contains("weights.bin", refused["detail"]!.GetValue<string>());

        // with the bytes it works (and the store keeps one copy)
        await copy.UploadAllAsync(mallory, start);
        await (await mallory.PostAsync($"/api/publish/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
        Assert.Equal(2, BlobCount(server));
    }

    [Fact]
    public async Task A_corrupt_upload_is_refused_and_can_be_retried_file_by_file()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel();
        var start = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
        var weights = start["uploads"]!.AsArray().First(u => u!["path"]!.GetValue<string>() == "weights.bin")!["url"]!.GetValue<string>();
        using var raw = new HttpClient();

        var corrupt = model.Files["weights.bin"].ToArray();
        corrupt[10] ^= 1;
        var wrong = await raw.PutAsync(weights, new ByteArrayContent(corrupt));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Contains("SHA-256", await wrong.Content.ReadAsStringAsync());

        var tooBig = await raw.PutAsync(weights, new ByteArrayContent([.. model.Files["weights.bin"], 1, 2, 3]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);

        var tampered = await raw.PutAsync(weights.Replace("sig=", "sig=0"), new ByteArrayContent(model.Files["weights.bin"]));
        Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);

        var incomplete = await client.PostAsync($"/api/publish/{start["publishId"]}/complete", null);
        Assert.Equal(HttpStatusCode.Conflict, incomplete.StatusCode);
        Assert.Contains("weights.bin", await incomplete.Content.ReadAsStringAsync());
        Assert.Equal(0, BlobCount(server));

        await model.UploadAllAsync(client, start);
        await (await client.PostAsync($"/api/publish/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
        Assert.Equal(2, BlobCount(server));
    }

    [Fact]
    public async Task Limits_are_answered_with_413_naming_the_limit()
    {
        await using var server = await FeatherTestServer.StartAsync(new Dictionary<string, string>
        {
            ["FEATHER_MAX_FILES"] = "2", ["FEATHER_MAX_FILE_BYTES"] = "4000", ["FEATHER_MAX_TOTAL_BYTES"] = "4500",
        });
        using var client = server.Client(await server.AdminTokenAsync());

        var big = await client.PostAsJsonAsync("/api/publish", new TestModel().StartBody());
        var bigProblem = await big.Json(HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("maxFileBytes", bigProblem["limit"]!.GetValue<string>());
        Assert.Contains("weights.bin", bigProblem["detail"]!.GetValue<string>());

        var total = new TestModel { Files = new() { ["model.py"] = new byte[3000], ["weights.bin"] = new byte[3000] } };
        Assert.Equal("maxTotalBytes", (await (await client.PostAsJsonAsync("/api/publish", total.StartBody())).Json(HttpStatusCode.RequestEntityTooLarge))["limit"]!.GetValue<string>());

        var many = new TestModel { Files = new() { ["model.py"] = [1], ["weights.bin"] = [2], ["extra.txt"] = [3] } };
        Assert.Equal("maxFilesPerVersion", (await (await client.PostAsJsonAsync("/api/publish", many.StartBody())).Json(HttpStatusCode.RequestEntityTooLarge))["limit"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("../escape.py")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/%2e%2e/x")]
    [InlineData("sub\\..\\x")]
    [InlineData("a\u0000b")]
    public async Task Manifest_paths_that_escape_are_refused(string path)
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel { Files = new() { ["model.py"] = [1], ["weights.bin"] = [2], [path] = [3] } };
        var problem = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]!["files/2"]);
    }

    [Fact]
    public async Task Invalid_metadata_is_refused_with_the_path_of_each_problem()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var body = new TestModel().StartBody();
        body["metadata"]!["name"] = "Bad Name";
        body["metadata"]!["profile"] = "huge";
        body["metadata"]!["num_steps"] = 5;
        var problem = await (await client.PostAsJsonAsync("/api/publish", body)).Json(HttpStatusCode.BadRequest);
        var errors = problem["errors"]!.AsObject();
        Assert.Contains("metadata/name", errors.Select(e => e.Key));
        Assert.Contains("metadata/profile", errors.Select(e => e.Key));
        Assert.Contains("must equal the number of steps (2)", errors["metadata/num_steps"]!.ToJsonString());

        var missingFile = new TestModel().StartBody();
        missingFile["files"] = new JsonArray(missingFile["files"]!.AsArray()[0]!.DeepClone());
        var missing = await (await client.PostAsJsonAsync("/api/publish", missingFile)).Json(HttpStatusCode.BadRequest);
        Assert.Contains("weights.bin", missing["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_abandoned_publish_leaves_nothing_behind()
    {
        await using var server = await FeatherTestServer.StartAsync(new Dictionary<string, string>
        {
            ["FEATHER_PUBLISH_TTL_SECONDS"] = "2", ["FEATHER_SWEEP_INTERVAL_SECONDS"] = "1",
        });
        using var client = server.Client(await server.AdminTokenAsync());
        var model = new TestModel { Files = new() { ["model.py"] = [1, 2, 3], ["weights.bin"] = new byte[4 * 1024 * 1024] } };
        var start = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
        var publishId = start["publishId"]!.GetValue<string>();
        var url = start["uploads"]!.AsArray().First(u => u!["path"]!.GetValue<string>() == "weights.bin")!["url"]!.GetValue<string>();

        // Send half the file, then kill the connection.
        var half = new HalfThenDie(model.Files["weights.bin"].Length / 2);
        using (var raw = new HttpClient())
            await Assert.ThrowsAnyAsync<Exception>(() => raw.PutAsync(url, new StreamContent(half)));
        Assert.True(half.Sent > 0);

        var staging = Path.Combine(server.DataDirectory, "staging", publishId);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((Directory.Exists(staging) || server.Services.GetRequiredService<Storage.FeatherDb>().Publishes.FindById(publishId) is not null)
               && DateTime.UtcNow < deadline)
            await Task.Delay(200);

        Assert.False(Directory.Exists(staging), "the staging folder of the abandoned publish is still there");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDirectory, "staging")));
        Assert.Equal(0, BlobCount(server));
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync($"/api/publish/{publishId}/complete", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/models/admin/hello")).StatusCode);
    }

    /// <summary>A request body that sends some bytes and then fails, like a client killed mid-upload.</summary>
    private sealed class HalfThenDie(int limit) : Stream
    {
        public int Sent { get; private set; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Sent >= limit) throw new IOException("client killed");
            var n = Math.Min(count, limit - Sent);
            Sent += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Sent; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

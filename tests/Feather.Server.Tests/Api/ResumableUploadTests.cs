using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>The resumable upload protocol: HEAD answers the staged offset, PATCH appends from it.</summary>
public class ResumableUploadTests
{
    private static readonly byte[] Weights = Enumerable.Range(0, 3 * 1024 * 1024 + 17).Select(i => (byte)(i * 31 % 251)).ToArray();

    private static TestModel Model() => new() { Files = new() { ["model.py"] = "print('hi')\n"u8.ToArray(), ["weights.bin"] = Weights } };

    private static string UrlOf(JsonNode start, string path) =>
        start["uploads"]!.AsArray().First(u => u!["path"]!.GetValue<string>() == path)!["url"]!.GetValue<string>();

    private static async Task<long> OffsetAsync(HttpClient http, string url)
    {
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Weights.Length.ToString(), response.Headers.GetValues("Upload-Length").Single());
        return long.Parse(response.Headers.GetValues("Upload-Offset").Single());
    }

    private static Task<HttpResponseMessage> PatchAsync(HttpClient http, string url, long offset, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = content };
        request.Headers.Add("Upload-Offset", offset.ToString());
        return http.SendAsync(request);
    }

    private static ByteArrayContent Bytes(byte[] data, int from, int count) => new(data, from, count);

    [Fact]
    public async Task A_half_uploaded_file_resumes_at_the_servers_offset_after_a_restart_and_a_new_start()
    {
        var data = Directory.CreateTempSubdirectory("feather-resume-").FullName;
        try
        {
            var model = Model();
            using var anonymous = new HttpClient();
            string publishId;
            var half = Weights.Length / 2;
            await using (var server = await FeatherTestServer.StartAsync(dataDirectory: data))
            {
                using var client = server.Client(await server.AdminTokenAsync());
                var start = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
                publishId = start["publishId"]!.GetValue<string>();
                var url = UrlOf(start, "weights.bin");
                Assert.Equal(0, await OffsetAsync(anonymous, url));

                using var first = await PatchAsync(anonymous, url, 0, Bytes(Weights, 0, half));
                Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
                Assert.Equal(half.ToString(), first.Headers.GetValues("Upload-Offset").Single());
                Assert.Equal(half, await OffsetAsync(anonymous, url));

                // a body that does not start at the server's offset is refused with the right offset
                using var wrong = await PatchAsync(anonymous, url, 0, Bytes(Weights, 0, 10));
                var problem = await wrong.Json(HttpStatusCode.Conflict);
                Assert.Equal(half, problem["offset"]!.GetValue<long>());
                Assert.Equal(half.ToString(), wrong.Headers.GetValues("Upload-Offset").Single());
                Assert.Equal(half, await OffsetAsync(anonymous, url));
                await server.StopAsync();
            }

            await using (var server = await FeatherTestServer.StartAsync(dataDirectory: data))
            {
                using var client = server.Client(await server.AdminTokenAsync());
                // `feather publish` run again: the same manifest finds the open publish and its staged bytes
                var start = await (await client.PostAsJsonAsync("/api/publish", model.StartBody())).Json(HttpStatusCode.Created);
                Assert.Equal(publishId, start["publishId"]!.GetValue<string>());
                var url = UrlOf(start, "weights.bin");
                Assert.Equal(half, await OffsetAsync(anonymous, url));

                using var rest = await PatchAsync(anonymous, url, half, Bytes(Weights, half, Weights.Length - half));
                Assert.Equal(HttpStatusCode.NoContent, rest.StatusCode);
                Assert.Equal(Weights.Length, await OffsetAsync(anonymous, url));
                using var code = await PatchAsync(anonymous, UrlOf(start, "model.py"), 0, new ByteArrayContent(model.Files["model.py"]));
                Assert.Equal(HttpStatusCode.NoContent, code.StatusCode);

                await (await client.PostAsync($"/api/publish/{publishId}/complete", null)).Json(HttpStatusCode.Created);
                var sha = Http.Sha256(Weights);
                Assert.Equal(Weights, await File.ReadAllBytesAsync(Path.Combine(data, "blobs", sha[..2], sha[2..])));
            }
        }
        finally
        {
            await FeatherTestServer.DeleteDataDirectoryAsync(data);
        }
    }

    [Fact]
    public async Task Bytes_that_arrived_before_a_broken_connection_stay_staged()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var start = await (await client.PostAsJsonAsync("/api/publish", Model().StartBody())).Json(HttpStatusCode.Created);
        var url = UrlOf(start, "weights.bin");
        using var anonymous = new HttpClient();

        var dying = new StreamContent(new DieAfter(Weights, 1024 * 1024));
        dying.Headers.ContentLength = Weights.Length;
        await Assert.ThrowsAnyAsync<Exception>(() => PatchAsync(anonymous, url, 0, dying));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        long offset;
        while ((offset = await OffsetAsync(anonymous, url)) == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.InRange(offset, 1, 1024 * 1024);
    }

    [Fact]
    public async Task A_file_whose_hash_does_not_match_when_complete_is_refused_and_starts_over()
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client(await server.AdminTokenAsync());
        var start = await (await client.PostAsJsonAsync("/api/publish", Model().StartBody())).Json(HttpStatusCode.Created);
        var url = UrlOf(start, "weights.bin");
        using var anonymous = new HttpClient();
        var corrupt = (byte[])Weights.Clone();
        corrupt[^1] ^= 0xff;

        var half = Weights.Length / 2;
        using (var first = await PatchAsync(anonymous, url, 0, Bytes(corrupt, 0, half)))
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        using var last = await PatchAsync(anonymous, url, half, Bytes(corrupt, half, corrupt.Length - half));
        var problem = await last.Json(HttpStatusCode.BadRequest);
        Assert.Contains("SHA-256", problem["detail"]!.GetValue<string>());
        Assert.Equal(0, await OffsetAsync(anonymous, url));

        using var tooMuch = await PatchAsync(anonymous, url, 0, new ByteArrayContent([.. Weights, 1]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooMuch.StatusCode);
        Assert.Equal(0, await OffsetAsync(anonymous, url));

        using var missing = new HttpRequestMessage(HttpMethod.Patch, url) { Content = new ByteArrayContent([1]) };
        Assert.Equal(HttpStatusCode.BadRequest, (await anonymous.SendAsync(missing)).StatusCode);
        using var forged = new HttpRequestMessage(HttpMethod.Head, url.Replace("sig=", "sig=0"));
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.SendAsync(forged)).StatusCode);
    }

    /// <summary>A request body that sends the first <c>limit</c> bytes and then fails, like a cut connection.</summary>
    private sealed class DieAfter(byte[] data, int limit) : Stream
    {
        private int _sent;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_sent >= limit) throw new IOException("connection cut");
            var n = Math.Min(count, limit - _sent);
            Array.Copy(data, _sent, buffer, offset, n);
            _sent += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _sent; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Feather.Cli.Publishing;

/// <summary>
/// Streams bundle files to their signed upload URLs with the resumable protocol: <c>HEAD</c> asks how many
/// bytes the server has staged (<c>Upload-Offset</c>), <c>PATCH</c> sends only the rest from there. A file that
/// fails on the network, with a 5xx/408/429, or with 409 (the offset moved) is retried from the server's offset
/// up to <see cref="Retries"/> times with a growing pause; other answers fail at once.
/// The bearer token is never sent: the URL's signature is the authorisation.
/// </summary>
public sealed class Uploader(HttpClient http, TextWriter progressWriter, bool terminal)
{
    public const int Retries = 3;
    public const string OffsetHeader = "Upload-Offset";
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bytes this uploader put on the wire (file bodies only), for tests and the summary.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    private long _bytesSent;

    /// <summary>
    /// Uploads what the server lacks of <paramref name="file"/>; answers the SHA-256 the server stored it under when
    /// the file was published without one (its <c>Upload-Sha256</c>), else null.
    /// </summary>
    public async Task<string?> UploadAsync(BundleFile file, Uri url, CancellationToken ct)
    {
        var progress = new FileProgress(progressWriter, terminal, file.Path, file.Size);
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            try
            {
                var (offset, stored) = await OffsetAsync(file, url, ct);
                await progress.StartAsync(attempt, offset);
                if (offset == file.Size)
                {
                    await progress.DoneAsync();
                    return stored;
                }
                var sent = await SendRestAsync(file, url, offset, progress, ct);
                failure = sent.Failure ?? "";
                if (failure.Length == 0)
                {
                    await progress.DoneAsync();
                    return sent.Sha256;
                }
            }
            catch (HttpRequestException e)
            {
                failure = e.InnerException?.Message ?? e.Message;
            }
            catch (IOException e)
            {
                failure = e.Message;
            }
            var willRetry = attempt <= Retries;
            await progress.FailedAsync(failure, willRetry);
            if (!willRetry)
                throw new CliException(ExitCodes.UploadFailed, $"upload of {file.Path} failed {attempt} times; last error: {failure}",
                    "check the connection to the server and run `feather publish` again (it resumes where the server stopped)");
            await Task.Delay(RetryDelay * attempt, ct);
        }
    }

    /// <summary>The bytes of the file the server has staged (HEAD on the upload URL), and its hash once it has them all.</summary>
    private async Task<(long Offset, string? Sha256)> OffsetAsync(BundleFile file, Uri url, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, url);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
        {
            if (IsTransient(response.StatusCode)) throw new HttpRequestException($"{(int)response.StatusCode} {response.StatusCode} asking for the upload offset");
            throw Refused(file, response.StatusCode, "");
        }
        if (!response.Headers.TryGetValues(OffsetHeader, out var values)
            || !long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            || offset > file.Size)
            throw new CliException(ExitCodes.UploadFailed, $"the server did not answer a valid {OffsetHeader} for {file.Path}",
                "the server may be older than this CLI; upgrade it, or use a matching CLI");
        return (offset, StoredHash(response));
    }

    public const string Sha256Header = "Upload-Sha256";

    /// <summary>The hash the server names a file published without one by (<c>Upload-Sha256</c>), when it answers one.</summary>
    private static string? StoredHash(HttpResponseMessage response) =>
        response.Headers.TryGetValues(Sha256Header, out var values) && values.FirstOrDefault() is { Length: 64 } sha ? sha : null;

    /// <summary>
    /// PATCHes the file from <paramref name="offset"/>: no failure when the server has it all (with the hash it answered,
    /// if any), else why to retry.
    /// </summary>
    private async Task<(string? Failure, string? Sha256)> SendRestAsync(BundleFile file, Uri url, long offset, FileProgress progress, CancellationToken ct)
    {
        var source = new FileStream(file.FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        if (source.Length != file.Size)
        {
            await source.DisposeAsync();
            throw new CliException(ExitCodes.UploadFailed, $"{file.Path} changed size since the publish started ({file.Size} → {source.Length} bytes)",
                "do not edit the model while publishing; run `feather publish` again");
        }
        source.Seek(offset, SeekOrigin.Begin);
        await using var stream = new ProgressStream(source, read =>
        {
            progress.Report(offset + read);
        });
        using var content = new StreamContent(stream, 1 << 20);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/offset+octet-stream");
        content.Headers.ContentLength = file.Size - offset;
        using var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = content };
        request.Headers.Add(OffsetHeader, offset.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.IsSuccessStatusCode)
                return response.Headers.TryGetValues(OffsetHeader, out var v) && v.FirstOrDefault() == file.Size.ToString(CultureInfo.InvariantCulture)
                    ? (null, StoredHash(response)) : ("the server has not received the whole file yet", null);
            var body = await response.Content.ReadAsStringAsync(ct);
            var failure = $"{(int)response.StatusCode} {response.StatusCode}{(body.Length is > 0 and < 500 ? ": " + body.Trim() : "")}";
            // 409: the server's offset is not ours (another attempt got further); ask again and resume there
            if (IsTransient(response.StatusCode) || response.StatusCode == HttpStatusCode.Conflict) return (failure, null);
            await progress.FailedAsync(failure, willRetry: false);
            throw Refused(file, response.StatusCode, failure);
        }
        finally
        {
            Interlocked.Add(ref _bytesSent, stream.BytesRead);
        }
    }

    private static CliException Refused(BundleFile file, HttpStatusCode status, string failure) =>
        new(ExitCodes.UploadFailed, $"the server refused the upload of {file.Path} ({(failure.Length > 0 ? failure : $"{(int)status} {status}")})",
            status is HttpStatusCode.Forbidden or HttpStatusCode.Gone or HttpStatusCode.Unauthorized
                ? "the signed upload URL expired or was rejected; run `feather publish` again"
                : "run `feather publish` again; if it keeps failing, check the server's log");

    public static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}

using System.Net;
using System.Net.Http.Headers;

namespace Feather.Cli.Publishing;

/// <summary>
/// Streams bundle files to their signed upload URLs (<c>PUT</c>, raw bytes). A file that fails on the network or
/// with a 5xx/408/429 is retried up to <see cref="Retries"/> times with a growing pause; other answers fail at once.
/// The bearer token is never sent: the URL's signature is the authorisation.
/// </summary>
public sealed class Uploader(HttpClient http, TextWriter progressWriter, bool terminal)
{
    public const int Retries = 3;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public async Task UploadAsync(BundleFile file, Uri url, CancellationToken ct)
    {
        var progress = new FileProgress(progressWriter, terminal, file.Path, file.Size);
        for (var attempt = 1; ; attempt++)
        {
            progress.Start(attempt);
            string failure;
            try
            {
                await using var stream = new ProgressStream(
                    new FileStream(file.FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan),
                    progress.Report);
                if (stream.Length != file.Size)
                    throw new CliException(ExitCodes.UploadFailed, $"{file.Path} changed size since it was hashed ({file.Size} → {stream.Length} bytes)",
                        "do not edit the model while publishing; run `feather publish` again");
                using var content = new StreamContent(stream, 1 << 16);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                content.Headers.ContentLength = file.Size;
                using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = content };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                if (response.IsSuccessStatusCode)
                {
                    progress.Done();
                    return;
                }
                var body = await response.Content.ReadAsStringAsync(ct);
                failure = $"{(int)response.StatusCode} {response.StatusCode}{(body.Length is > 0 and < 500 ? ": " + body.Trim() : "")}";
                if (!IsTransient(response.StatusCode))
                {
                    progress.Failed(failure, willRetry: false);
                    throw new CliException(ExitCodes.UploadFailed, $"the server refused the upload of {file.Path} ({failure})",
                        response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Gone or HttpStatusCode.Unauthorized
                            ? "the signed upload URL expired or was rejected; run `feather publish` again"
                            : "run `feather publish` again; if it keeps failing, check the server's log");
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
            progress.Failed(failure, willRetry);
            if (!willRetry)
                throw new CliException(ExitCodes.UploadFailed, $"upload of {file.Path} failed {attempt} times; last error: {failure}",
                    "check the connection to the server and run `feather publish` again (files already stored are skipped)");
            await Task.Delay(RetryDelay * attempt, ct);
        }
    }

    public static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}

using System.Security.Cryptography;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// Step files in the browser: File.Upload checks the server's limits (read from GET /api/limits; the portal
/// fixture's server has 48 MiB a file, 64 MiB a step), streams the chosen file into the run (no base64 in the
/// step's JSON), and a File.Download output is a link to its URL that saves the very bytes the step gave.
/// The model is tests/models/files (a .pt file given back as a download).
/// </summary>
[Collection("portal")]
public sealed class StepFilesTests(PortalFixture fx) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("feather-portal-files-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public async Task A_file_is_uploaded_within_the_servers_limits_and_the_output_file_downloads()
    {
        var publish = await fx.Server.Cli("publish", Path.Combine(fx.Server.RepoRoot, "tests", "models", "files"), "--visibility", "public", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());

        var page = await fx.NewPage();
        var submitted = new List<string>();
        var uploads = new List<(string Url, string? ContentType)>();
        page.Request += (_, request) =>
        {
            if (request.Method != "POST") return;
            if (request.Url.Contains("/steps/")) submitted.Add(request.PostData ?? "");
            else if (request.Url.Contains("/files?name=")) uploads.Add((request.Url, request.Headers.GetValueOrDefault("content-type")));
        };
        await page.GotoAsync("/models/admin/files");
        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Weights" });
        await Expect(upload).ToContainTextAsync("up to 48.0 MiB each, 64.0 MiB a step");
        var input = upload.GetByLabel("Choose files or drop them here");

        // past the server's limit: refused before a byte is sent
        var huge = Path.Combine(dir, "huge.pt");
        await using (var f = File.Create(huge)) f.SetLength(PortalFixture.MaxStepFileBytes + 1);
        await input.SetInputFilesAsync(huge);
        await Expect(upload.GetByRole(AriaRole.Alert)).ToContainTextAsync("huge.pt: 48.0 MiB is larger than 48.0 MiB, the most a file may have on this server");
        await upload.GetByRole(AriaRole.Button, new() { Name = "Remove huge.pt" }).ClickAsync();
        await Expect(upload.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);

        var bytes = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 3);
        var weights = Path.Combine(dir, "weights.pt");
        await File.WriteAllBytesAsync(weights, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await input.SetInputFilesAsync(weights);
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Digest”" }).ClickAsync();
        // the step read every byte of the file
        await Expect(page.GetByText($"{bytes.Length} {digest}")).ToBeVisibleAsync(new() { Timeout = 180_000 });

        // the file went as its own upload, the step's JSON named it by reference
        var sent = Assert.Single(uploads);
        Assert.Contains("name=weights.pt", sent.Url);
        Assert.Equal("application/octet-stream", sent.ContentType);
        var body = Assert.Single(submitted);
        Assert.Contains("\"file\":", body);
        Assert.DoesNotContain("\"data\"", body);
        Assert.True(body.Length < 1000, body);

        // the output file: a link to its URL that saves what the step gave
        var link = page.GetByRole(AriaRole.Link, new() { Name = "Download back-weights.pt (5.0 MiB)" });
        StringAssert(await link.GetAttributeAsync("href"), "/api/runs/");
        var download = await page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        Assert.Equal("back-weights.pt", download.SuggestedFilename);
        var saved = Path.Combine(dir, "saved.pt");
        await download.SaveAsAsync(saved);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(saved));
    }

    private static void StringAssert(string? value, string prefix) =>
        Assert.True(value is not null && value.StartsWith(prefix, StringComparison.Ordinal), $"'{value}' does not start with {prefix}");
}

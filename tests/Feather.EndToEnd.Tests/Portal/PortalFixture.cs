using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// One real server (bin/feather-server, real Docker) with the samples hello and vqg published as
/// public models, and Debian's Chromium driven by Playwright (never a downloaded browser).
/// </summary>
public sealed class PortalFixture : IAsyncLifetime
{
    /// <summary>Step-file limits other than the defaults, so the portal's checks show they come from the server (GET /api/limits).</summary>
    public const long MaxStepFileBytes = 48L << 20, MaxStepBytes = 64L << 20;

    /// <summary>
    /// A small drift reference window (4 runs) and minimum count (3), so the monitoring test needs only a few runs;
    /// step-file limits other than the defaults. The browser tests run many anonymous steps from one address within a
    /// minute (the drift test alone makes 20 calls), more than the default 30 a minute once steps got faster: the limit
    /// is raised here and tested on its own in Feather.Server.Tests (AnonymousRunLimitTests).
    /// </summary>
    public FeatherServer Server { get; } = new(new Dictionary<string, string>
    {
        ["Monitoring__ReferenceRuns"] = "4", ["Monitoring__MinCount"] = "3",
        ["FEATHER_ANON_RUNS_PER_MINUTE"] = "1000",
        ["FEATHER_MAX_STEP_FILE_BYTES"] = MaxStepFileBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["FEATHER_MAX_STEP_BYTES"] = MaxStepBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public System.Collections.Concurrent.ConcurrentBag<string> ThirdPartyRequests { get; } = [];
    /// <summary>
    /// Where the browser tests save their screenshots: docs/images when FEATHER_SCREENSHOTS=1 (to
    /// refresh the pictures in the docs), else a temp folder, so a test run leaves the tree clean.
    /// </summary>
    public string Screenshots { get; } = Environment.GetEnvironmentVariable("FEATHER_SCREENSHOTS") == "1"
        ? Path.Combine(FeatherServer.FindRepoRoot(), "docs", "images")
        : Path.Combine(Path.GetTempPath(), "feather-screenshots");

    public async Task InitializeAsync()
    {
        if (!File.Exists("/usr/bin/chromium"))
            throw new InvalidOperationException("/usr/bin/chromium is missing: apt-get install -y chromium (./test.sh installs it)");
        await Server.InitializeAsync();
        foreach (var sample in new[] { "hello", "vqg" })
        {
            var publish = await Server.Cli("publish", $"samples/{sample}", "--visibility", "public", "--notes", "first");
            Assert.True(publish.ExitCode == 0, $"publishing samples/{sample} failed: {publish}");
        }
        await WaitForImage("admin", "hello", 1);
        await WaitForImage("admin", "vqg", 1);

        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        });
        Directory.CreateDirectory(Screenshots);
    }

    /// <summary>Waits until a version's image is built (steps can run only then).</summary>
    public async Task WaitForImage(string owner, string model, int version)
    {
        var deadline = DateTime.UtcNow.AddMinutes(8);
        string status = "";
        while (DateTime.UtcNow < deadline)
        {
            var doc = await Server.Http.GetFromJsonAsync<JsonElement>($"{Server.Url}/api/models/{owner}/{model}/versions/{version}");
            status = doc.TryGetProperty("imageStatus", out var s) ? s.GetString()!
                : doc.GetProperty("image").GetProperty("status").GetString()!;
            if (status == "ready") return;
            if (status == "failed") throw new InvalidOperationException($"the image of {owner}/{model} {version} failed to build: {doc}");
            await Task.Delay(1000);
        }
        throw new TimeoutException($"the image of {owner}/{model} {version} is still {status}\n{Server.ServerLog}");
    }

    public async Task<IPage> NewPage(int width = 1280, int height = 900)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Server.Url,
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        // The portal must never reach beyond its own server.
        await page.RouteAsync(url => !url.StartsWith(Server.Url) && !url.StartsWith("data:") && !url.StartsWith("blob:"),
            async route => { ThirdPartyRequests.Add(route.Request.Url); await route.AbortAsync(); });
        return page;
    }

    public Task Screenshot(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name), FullPage = true });

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        Playwright?.Dispose();
        await Server.DisposeAsync();
    }
}

[CollectionDefinition("portal")]
public sealed class PortalCollection : ICollectionFixture<PortalFixture>;

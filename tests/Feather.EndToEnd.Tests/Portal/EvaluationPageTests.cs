using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// An evaluation's page in Debian's Chromium, on the evaluation tests' server: the owner opens it from the model page's
/// Scores tab and sees the per-record view (image inputs as thumbnails from the dataset file route, label, prediction,
/// "wrong only"), which another user never sees; a running evaluation shows its progress and live log, and its owner
/// cancels it from the page. With FEATHER_SCREENSHOTS=1 the per-record view is saved as docs/images/evaluation.png.
/// </summary>
[Collection("evaluation")]
public sealed class EvaluationPageTests(EvaluationServer server)
{
    [Fact]
    public async Task The_owner_opens_an_evaluation_from_the_Scores_tab_and_sees_the_wrong_records_with_thumbnails_others_do_not()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("feather-e2e-eval-page-").FullName;
        try
        {
            var dataset = $"digits-rec-{suffix}";
            var published = await server.Cli("datasets", "publish",
                LeaderboardTests.Copy(server, "samples/datasets/digits-heldout", Path.Combine(work, dataset), "dataset.json", "\"name\": \"digits-heldout\"", $"\"name\": \"{dataset}\""),
                "--visibility", "public");
            Assert.True(published.ExitCode == 0, published.ToString());
            var model = $"rec-centroid-{suffix}";
            var dir = LeaderboardTests.Copy(server, "samples/digits-centroid", Path.Combine(work, model), "model.py", "name=\"digits-centroid\"", $"name=\"{model}\"");
            var publish = await server.Cli("publish", dir, "--wait", "--visibility", "public");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var evaluation = await server.WaitForEvaluationAsync("admin", model, dataset);
            Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
            var id = evaluation["id"]!.GetValue<string>();
            var accuracy = evaluation["metrics"]!["accuracy"]!.GetValue<double>();

            // the API: each record's inputs (the image's path in the dataset, never the label), the input fields, the label field
            var all = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records?limit=3", null);
            Assert.Equal(450, all["total"]!.GetValue<int>());
            Assert.Equal("label", all["labelField"]!.GetValue<string>());
            Assert.Equal("image", Assert.Single(all["inputFields"]!.AsArray())!["type"]!.GetValue<string>());
            var firstInputs = all["records"]![0]!["inputs"]!.AsObject();
            Assert.Equal("images/0000.png", firstInputs["image"]!.GetValue<string>());
            Assert.False(firstInputs.ContainsKey("label"));
            var wrong = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records?wrong=true&limit=10000", null);
            var wrongTotal = wrong["total"]!.GetValue<int>();
            Assert.InRange(wrongTotal, 1, 449);
            var firstWrong = wrong["records"]![0]!;
            var detail = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null);
            Assert.True(detail["canChange"]!.GetValue<bool>());
            Assert.Equal("label", detail["labelField"]!.GetValue<string>());

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium", Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            });
            var (page, errors) = await SignedInPage(browser, "admin", server.Server.AdminPassword);

            // from the model page's Scores tab to the evaluation
            await page.GotoAsync($"/models/admin/{model}");
            await page.GetByRole(AriaRole.Tab, new() { Name = "Scores" }).ClickAsync();
            await Expect(page.Locator($"#evaluations tbody tr[data-evaluation='{id}']")).ToContainTextAsync("succeeded");
            await page.GetByRole(AriaRole.Link, new() { Name = $"Open the evaluation of version 1 on {dataset}" }).ClickAsync();
            await Expect(page).ToHaveURLAsync(new Regex($"/evaluations/{id}$"));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = $"admin/{model} version 1 on admin/{dataset}@1", Level = 1 })).ToBeVisibleAsync();
            await Expect(page.Locator("#evaluation-status")).ToContainTextAsync("succeeded");
            await Expect(page.Locator("#evaluation-status")).ToContainTextAsync("450 of 450 records");
            await Expect(page.Locator("#evaluation-status")).ToContainTextAsync("Scored on the label field label");
            await Expect(page.Locator("#evaluation-metric-table")).ToContainTextAsync(accuracy.ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
            await Expect(page.Locator("#evaluation-log")).ToContainTextAsync("--- chunk 1: records 0..449 ---");
            await Expect(page.Locator("#evaluation-cancel")).ToHaveCountAsync(0);

            // every record, a page at a time; then only the wrong ones
            var rows = page.Locator("#records tbody tr");
            await Expect(page.Locator("#records-summary")).ToHaveTextAsync("Records: showing 50 of 450");
            await Expect(rows).ToHaveCountAsync(50);
            await page.GetByRole(AriaRole.Button, new() { Name = "Show more" }).ClickAsync();
            await Expect(rows).ToHaveCountAsync(100);
            await page.GetByLabel("Wrong only").CheckAsync();
            var shown = Math.Min(50, wrongTotal);
            await Expect(page.Locator("#records-summary")).ToHaveTextAsync($"Wrong records: showing {shown} of {wrongTotal}");
            await Expect(rows).ToHaveCountAsync(shown);
            await Expect(page.Locator("#records tbody tr.right")).ToHaveCountAsync(0);
            var row = rows.First;
            await Expect(row).ToHaveAttributeAsync("data-index", firstWrong["index"]!.GetValue<long>().ToString());
            await Expect(row).ToContainTextAsync("✗ wrong");
            var cells = await row.Locator("td").AllTextContentsAsync();
            Assert.Equal(firstWrong["label"]!.GetValue<string>(), cells[2]);
            Assert.Equal(firstWrong["prediction"]!.GetValue<string>(), cells[3]);
            Assert.NotEqual(cells[2], cells[3]);
            // the record's image, as a thumbnail served by the dataset file route
            var image = firstWrong["inputs"]!["image"]!.GetValue<string>();
            var thumb = row.GetByRole(AriaRole.Img, new() { Name = $"image: {image}" });
            await Expect(thumb).ToHaveAttributeAsync("src", $"/api/datasets/admin/{dataset}/versions/1/file?path={Uri.EscapeDataString(image)}");
            await page.WaitForFunctionAsync("img => img.complete && img.naturalWidth > 0", await thumb.ElementHandleAsync());
            var shots = Environment.GetEnvironmentVariable("FEATHER_SCREENSHOTS") == "1"
                ? Path.Combine(server.Server.RepoRoot, "docs", "images") : Path.Combine(Path.GetTempPath(), "feather-screenshots");
            Directory.CreateDirectory(shots);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "evaluation.png") });
            Assert.Empty(errors);

            // another user sees the evaluation of the public model, but not its records (403 from the API), nor a cancel button
            var viewer = $"viewer-{suffix}";
            var password = Guid.NewGuid().ToString("N");
            await server.Api(HttpMethod.Post, "/api/users", new JsonObject { ["username"] = viewer, ["password"] = password });
            var (other, otherErrors) = await SignedInPage(browser, viewer, password);
            await other.GotoAsync($"/evaluations/{id}");
            await Expect(other.Locator("#evaluation-status")).ToContainTextAsync("succeeded");
            await Expect(other.Locator("#evaluation-records")).ToContainTextAsync("The per-record view (which records the model got wrong) is for whoever can change the model.");
            await Expect(other.Locator("#records")).ToHaveCountAsync(0);
            await Expect(other.Locator("#evaluation-cancel")).ToHaveCountAsync(0);
            var viewerToken = await server.NewUserTokenAsync($"viewer2-{suffix}");
            Assert.False((await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null, HttpStatusCode.OK, viewerToken))["canChange"]!.GetValue<bool>());
            await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records", null, HttpStatusCode.Forbidden, viewerToken);
            // once the model is private, the evaluation does not exist for them (404, in the API and on the page)
            await server.Api(HttpMethod.Patch, $"/api/models/admin/{model}", new JsonObject { ["visibility"] = "private" });
            await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null, HttpStatusCode.NotFound, viewerToken);
            await server.Api(HttpMethod.Get, $"/api/evaluations/{id}/records", null, HttpStatusCode.NotFound, viewerToken);
            await other.GotoAsync($"/evaluations/{id}");
            await Expect(other.GetByRole(AriaRole.Heading, new() { Name = "Evaluation not found" })).ToBeVisibleAsync();
            Assert.Empty(otherErrors);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task A_running_evaluation_shows_its_progress_and_live_log_and_its_owner_cancels_it_from_the_page()
    {
        var name = $"sleepy-page-{Guid.NewGuid().ToString("N")[..8]}";
        var publish = await server.Cli("datasets", "publish", server.MakeTextDataset(name, 3, _ => "sleep"));
        Assert.True(publish.ExitCode == 0, publish.ToString());
        var evaluation = await server.WaitForEvaluationAsync("admin", "eval-hostile", name, terminal: false);
        var id = evaluation["id"]!.GetValue<string>();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        });
        var (page, errors) = await SignedInPage(browser, "admin", server.Server.AdminPassword);
        await page.GotoAsync($"/evaluations/{id}");
        var status = page.Locator("#evaluation-status");
        await Expect(status).ToContainTextAsync("running", new() { Timeout = 180_000 });
        await Expect(status).ToContainTextAsync("0 of 3 records");
        // the model's stderr, while its container still runs (the page polls)
        await Expect(page.Locator("#evaluation-log")).ToContainTextAsync("sleeping", new() { Timeout = 120_000 });
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Expect(status).ToContainTextAsync("cancelled");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("cancelled");
        await Expect(page.Locator("#evaluation-cancel")).ToHaveCountAsync(0);
        var done = await server.Api(HttpMethod.Get, $"/api/evaluations/{id}", null);
        Assert.Equal("cancelled", done["evaluation"]!["status"]!.GetValue<string>());
        Assert.Contains("sleeping", done["logs"]!.GetValue<string>());
        var left = await FeatherServer.Docker("ps", "-aq", "--filter", $"label=org.feather.evaluation={id}");
        Assert.Equal("", left.Stdout.Trim());
        Assert.Empty(errors);
    }

    private async Task<(IPage Page, List<string> Errors)> SignedInPage(IBrowser browser, string user, string password)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.Server.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.RouteAsync(url => !url.StartsWith(server.Server.Url) && !url.StartsWith("data:") && !url.StartsWith("blob:"),
            async route => { errors.Add("third party: " + route.Request.Url); await route.AbortAsync(); });
        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync(user);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync();
        return (page, errors);
    }
}

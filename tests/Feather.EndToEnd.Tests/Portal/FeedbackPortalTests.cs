using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// Feedback in the portal on one image of a VQG output (real containers), seen by the owner in the model's Feedback
/// tab, exported and published as a dataset with the CLI; the Monitoring tab draws its charts.
/// </summary>
[Collection("portal")]
public sealed class FeedbackPortalTests(PortalFixture fx)
{
    private static readonly LocatorAssertionsToBeVisibleOptions StepTimeout = new() { Timeout = 180_000 };

    private string Sample(string path) => Path.Combine(fx.Server.RepoRoot, "samples", path);

    /// <summary>Signs in as admin; the portal then asks for the antiforgery token and the account before it shows My models,
    /// which takes longer than the assertions' default 5 s on a busy shared machine.</summary>
    private async Task SignInAsync(IPage page)
    {
        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync(fx.Server.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync(new() { Timeout = 60_000 });
    }

    [Fact]
    public async Task Feedback_on_one_image_of_a_vqg_result_reaches_the_owner_exports_and_publishes_and_monitoring_charts_render()
    {
        var page = await fx.NewPage();
        await SignInAsync(page);

        await page.GotoAsync("/models/admin/vqg");
        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Upload images" });
        await upload.GetByLabel("Choose files or drop them here").SetInputFilesAsync(
            [Sample("vqg/images/astronaut.jpg"), Sample("vqg/images/cameraman.jpg")]);
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Detect objects”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2 of 2: Generate questions" })).ToBeVisibleAsync(StepTimeout);
        var boxes = page.GetByRole(AriaRole.Group, new() { Name = "Image 1", Exact = true }).GetByRole(AriaRole.Checkbox);
        await boxes.Nth(0).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Generate questions”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);

        // one click next to the output opens the feedback, which says what it shares
        var feedback = page.Locator("details.feedback").First;
        await feedback.Locator("summary").ClickAsync();
        await Expect(feedback.GetByText("shares this step’s inputs and outputs with the model’s owner")).ToBeVisibleAsync();
        await feedback.GetByLabel("About").SelectOptionAsync(new SelectOptionValue { Label = "Image 2" });
        await feedback.GetByLabel("Incorrect").CheckAsync();
        await feedback.GetByLabel("The right answer (typed)").FillAsync("Who is holding the camera?");
        await feedback.GetByLabel("Comment").FillAsync("the question misses the camera");
        await feedback.GetByRole(AriaRole.Button, new() { Name = "Send feedback" }).ClickAsync();
        await Expect(feedback.GetByRole(AriaRole.Status)).ToContainTextAsync("your feedback was sent");

        // the owner's Feedback tab
        await page.GotoAsync("/models/admin/vqg?tab=feedback");
        var row = page.Locator("tr[data-feedback]").Filter(new() { HasText = "Who is holding the camera?" });
        await Expect(row).ToBeVisibleAsync();
        await Expect(row).ToContainTextAsync("item 2");
        await Expect(row).ToContainTextAsync("incorrect");
        await Expect(row.Locator("img.thumb")).ToHaveCountAsync(1);
        await page.GetByLabel("Rating").SelectOptionAsync("correct");
        await Expect(page.GetByText("No feedback matches.")).ToBeVisibleAsync();
        await page.GetByLabel("Rating").SelectOptionAsync("incorrect");
        await Expect(row).ToBeVisibleAsync();
        await fx.Screenshot(page, "feedback-tab.png");

        // export → a dataset directory → feather datasets publish
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Link, new() { Name = "Export as a dataset (.zip)" }).ClickAsync());
        var zip = Path.Combine(fx.Server.DataDir, "feedback.zip");
        await download.SaveAsAsync(zip);
        var dir = Path.Combine(fx.Server.DataDir, "feedback-dataset");
        ZipFile.ExtractToDirectory(zip, dir);
        Assert.Contains("Who is holding the camera?", await File.ReadAllTextAsync(Path.Combine(dir, "records.jsonl")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir, "images")));
        var published = await fx.Server.Cli("datasets", "publish", dir);
        Assert.True(published.ExitCode == 0, published.ToString());
        Assert.Contains("admin-vqg-feedback", published.ToString());

        // Monitoring: the statistics of the images and the charts
        await page.GotoAsync("/models/admin/vqg?tab=monitoring");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Monitoring" })).ToBeVisibleAsync();
        await Expect(page.Locator("tr[data-feature='0/input/images/brightness']")).ToBeVisibleAsync();
        await Expect(page.Locator(".chart canvas").First).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => typeof window.Chart === 'function'"));
        await fx.Screenshot(page, "monitoring-tab.png");
        Assert.Empty(fx.ThirdPartyRequests);
    }

    [Fact]
    public async Task Two_batches_of_different_images_drift_and_the_monitoring_tab_charts_and_highlights_it()
    {
        // anonymous visitors run "Detect objects" of admin/vqg in real containers: four dark, small pictures, then six bright, large ones
        using var anonymous = new HttpClient { BaseAddress = new Uri(fx.Server.Url), Timeout = TimeSpan.FromMinutes(5) };
        async Task Detect(byte[] png)
        {
            var run = await (await anonymous.PostAsJsonAsync("/api/models/admin/vqg/runs", new { })).Content.ReadFromJsonAsync<JsonObject>();
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{run!["id"]}/steps/0")
            {
                Content = JsonContent.Create(new JsonObject { ["responses"] = new JsonObject { ["images"] = TestImages.Upload("picture.png", png) } }),
            };
            request.Headers.Add("Prefer", "wait=240");
            using var response = await anonymous.SendAsync(request);
            var step = await response.Content.ReadFromJsonAsync<JsonObject>();
            Assert.True(response.StatusCode == HttpStatusCode.OK && step!["status"]!.GetValue<string>() == "succeeded", step?.ToJsonString());
        }
        for (var i = 0; i < 4; i++) await Detect(TestImages.Png(80 + i, 60, 20, 20, 30));
        for (var i = 0; i < 6; i++) await Detect(TestImages.Png(700 + i, 500, 240, 235, 220));

        // the API's numbers (the owner's): brightness drifted against the reference window
        using var owner = new HttpClient { BaseAddress = new Uri(fx.Server.Url) };
        var login = await (await owner.PostAsJsonAsync("/api/auth/tokens",
            new { username = "admin", password = fx.Server.AdminPassword, name = "monitoring-test", scopes = new[] { "read" } })).Content.ReadFromJsonAsync<JsonObject>();
        owner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", login!["token"]!.GetValue<string>());
        var view = await owner.GetFromJsonAsync<JsonObject>("/api/models/admin/vqg/monitoring");
        JsonNode Feature(string key) => view!["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == key)!;
        var brightness = Feature("0/input/images/brightness");
        Assert.True(brightness["drifted"]!.GetValue<bool>(), brightness.ToJsonString());
        // (other tests of this server may run admin/vqg too, so the reference window may hold their photos; the bright batch
        // still pulls the latest day above it)
        Assert.True(brightness["days"]!.AsArray()[^1]!["mean"]!.GetValue<double>() > brightness["referenceMean"]!.GetValue<double>(),
            brightness.ToJsonString());

        // the Monitoring tab: the alert names the feature, its row is highlighted and its chart is drawn
        var page = await fx.NewPage();
        await SignInAsync(page);
        await page.GotoAsync("/models/admin/vqg?tab=monitoring");
        await Expect(page.GetByRole(AriaRole.Alert).Filter(new() { HasText = "drifted past" })).ToContainTextAsync("0/input/images/brightness",
            new() { Timeout = 60_000 });
        var row = page.Locator("tr[data-feature='0/input/images/brightness']");
        await Expect(row).ToHaveClassAsync("drifted");
        await Expect(row).ToContainTextAsync("drifted");
        var chart = page.Locator("figure.feature-chart.drifted").Filter(new() { HasText = "images · brightness" });
        await Expect(chart.Locator("canvas")).ToBeVisibleAsync();
        // Chart.js drew into the canvas: some pixel is not blank
        Assert.True(await chart.Locator("canvas").EvaluateAsync<bool>(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true; return false; }"));
        // over time: the drift score per day of the features that moved most
        await Expect(page.Locator("canvas[aria-label^='Drift score (PSI) per day']")).ToBeVisibleAsync();
        await fx.Screenshot(page, "monitoring-drift.png");

        // the usage page: an admin chooses the anonymous visitors, whose ten steps of admin/vqg show per day and per profile
        await page.GotoAsync("/me/usage");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Usage", Exact = true })).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await page.GetByLabel("Whose usage").SelectOptionAsync(new SelectOptionValue { Label = "Anonymous visitors (all together)" });
        var perModel = page.Locator("table").Filter(new() { HasText = "admin/vqg" }).Last;
        await Expect(perModel).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Expect(page.Locator("canvas[aria-label='Steps and seconds per day']")).ToBeVisibleAsync();
        await Expect(page.Locator("canvas[aria-label='Seconds and cost per profile']")).ToBeVisibleAsync();
        await fx.Screenshot(page, "usage-anonymous.png");
        Assert.Empty(fx.ThirdPartyRequests);
    }
}

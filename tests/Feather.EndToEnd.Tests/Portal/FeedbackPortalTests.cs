using System.IO.Compression;
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

    [Fact]
    public async Task Feedback_on_one_image_of_a_vqg_result_reaches_the_owner_exports_and_publishes_and_monitoring_charts_render()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync(fx.Server.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync();

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
}

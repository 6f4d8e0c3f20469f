using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>The datasets list and a dataset's page, with samples/datasets/digits-heldout published by bin/feather.</summary>
[Collection("portal")]
public sealed class DatasetPageTests(PortalFixture fx)
{
    [Fact]
    public async Task The_dataset_page_shows_its_fields_with_the_label_marked_and_records_with_image_thumbnails()
    {
        var publish = await fx.Server.Cli("datasets", "publish", "samples/datasets/digits-heldout", "--visibility", "public");
        Assert.True(publish.ExitCode == 0, $"publishing the dataset failed: {publish}");

        var page = await fx.NewPage();
        await page.GotoAsync("/datasets");
        var link = page.GetByRole(AriaRole.Link, new() { Name = "Digits, held-out split" });
        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("of 1 dataset");
        await link.ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/datasets/admin/digits-heldout$"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Digits, held-out split", Level = 1 })).ToBeVisibleAsync();
        await Expect(page.Locator("dl.facts")).ToContainTextAsync("image-classification");
        await Expect(page.Locator("dl.facts")).ToContainTextAsync("450");
        await Expect(page.Locator("dl.facts")).ToContainTextAsync("test: held out; evaluated automatically");
        await Expect(page.Locator("dl.facts")).ToContainTextAsync("Alpaydin");
        var labelRow = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "the digit shown" });
        await Expect(labelRow.Locator(".label-badge")).ToHaveTextAsync("label");
        await Expect(page.GetByRole(AriaRole.Columnheader, new() { Name = "label (label)" })).ToBeVisibleAsync();

        // eight example records, each image a thumbnail loaded from the dataset's file route
        var thumbnails = page.Locator("table.records img.thumb");
        await Expect(thumbnails).ToHaveCountAsync(8);
        await Expect(thumbnails.First).ToHaveAttributeAsync("src", new Regex(@"/api/datasets/admin/digits-heldout/versions/1/file\?path=images%2F0000\.png$"));
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('table.records img.thumb')].every(i => i.complete && i.naturalWidth === 32)");
        await Expect(page.Locator("table.records tbody tr").First).ToContainTextAsync("2"); // the first held-out digit is a 2
        await fx.Screenshot(page, "dataset-page.png");

        await page.GetByRole(AriaRole.Link, new() { Name = "image-classification" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/datasets\?task=image-classification$"));
        Assert.Empty(fx.ThirdPartyRequests);
    }
}

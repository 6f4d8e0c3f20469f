using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// The model page's Fine-tune tab in Debian's Chromium, on the fine-tuning tests' server: the form's hyperparameter
/// fields come from the training function's declaration; a job started there is followed live (status, progress, the
/// metrics chart drawn by the vendored Chart.js, the log) to the version it made, whose lineage the Versions tab shows.
/// </summary>
[Collection("finetune")]
public sealed class FinetunePageTests(FinetuneServer server)
{
    [Fact]
    public async Task The_form_is_rendered_from_the_declaration_and_a_job_is_followed_live_to_its_version_and_lineage()
    {
        var dataset = await server.TextDatasetAsync("ft-portal");
        SetDefaultExpectTimeout(30_000); // the machine is shared: a sign-in's password hash may take a while
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.Server.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        context.SetDefaultTimeout(60_000);
        var page = await context.NewPageAsync();
        var thirdParty = new List<string>();
        await page.RouteAsync(url => !url.StartsWith(server.Server.Url) && !url.StartsWith("data:") && !url.StartsWith("blob:"),
            async route => { thirdParty.Add(route.Request.Url); await route.AbortAsync(); });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);

        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync(server.Server.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync(new() { Timeout = 30_000 });

        await page.GotoAsync("/models/admin/train-hostile");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Fine-tune" }).ClickAsync();
        // one field per declared param, typed and bounded as declared
        var mode = page.GetByLabel("mode", new() { Exact = true });
        await Expect(mode).ToHaveValueAsync("\"ok\"", new() { Timeout = 30_000 });
        Assert.Equal(["ok", "raise", "sleep", "network"], await mode.Locator("option").AllTextContentsAsync());
        var seconds = page.GetByLabel("seconds", new() { Exact = true });
        await Expect(seconds).ToHaveAttributeAsync("type", "number");
        await Expect(seconds).ToHaveAttributeAsync("min", "1");
        await Expect(seconds).ToHaveAttributeAsync("max", "600");
        await Expect(seconds).ToHaveValueAsync("120");
        await Expect(page.GetByLabel("targets", new() { Exact = true })).ToHaveAttributeAsync("type", "text");

        await page.GetByLabel("Dataset", new() { Exact = true }).SelectOptionAsync(new SelectOptionValue { Label = dataset });
        await page.GetByRole(AriaRole.Button, new() { Name = "Start fine-tuning" }).ClickAsync();
        await Expect(page.Locator(".ft-status")).ToHaveTextAsync("succeeded", new() { Timeout = 180_000 });
        await Expect(page.Locator(".ft-progress")).ToHaveTextAsync("epoch 2/2, loss 0.5000");
        await Expect(page.GetByRole(AriaRole.Img, new() { Name = "Metrics reported by the training function" })).ToHaveAttributeAsync("data-points", "2");
        Assert.True(await page.EvaluateAsync<bool>("() => typeof window.Chart === 'function' && !!window.Chart.getChart(document.getElementById('ft-chart'))"));
        await Expect(page.GetByLabel("Training log")).ToContainTextAsync("training admin/train-hostile version 1 on " + dataset);

        var made = page.GetByRole(AriaRole.Link, new() { NameRegex = new Regex(@"^admin\/train-hostile version \d+$") });
        var number = Regex.Match(await made.TextContentAsync() ?? "", @"\d+$").Value;
        await made.ClickAsync();
        await Expect(page.GetByRole(AriaRole.Tab, new() { Name = "Versions" })).ToHaveAttributeAsync("aria-selected", "true");
        var row = page.Locator("#panel-versions tbody tr").Filter(new() { HasText = $"{dataset}@1" });
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row.Locator("td").First).ToHaveTextAsync(new Regex($"^{number}"));
        await Expect(row.Locator("td.lineage")).ToContainTextAsync($"admin/train-hostile@1 on {dataset}@1");
        await Expect(row.Locator("td.lineage")).ToContainTextAsync("mode=\"ok\"");
        await Expect(row.Locator("td.lineage")).ToContainTextAsync("loss 0.5000");

        Assert.Empty(thirdParty);
        Assert.Empty(errors);
    }
}

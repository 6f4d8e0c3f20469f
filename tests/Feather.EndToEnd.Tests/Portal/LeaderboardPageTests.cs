using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>
/// The leaderboard pages in Debian's Chromium, on the evaluation tests' server (its runner image has the SDK's evaluate
/// mode): a copy of the held-out digits and copies of the two sample classifiers, evaluated by themselves; the board
/// ranks them with both metrics, its chart plots them (the vendored Chart.js), and the model page's Scores tab shows the
/// rank. With FEATHER_SCREENSHOTS=1 the board is saved as docs/images/leaderboard.png.
/// </summary>
[Collection("evaluation")]
public sealed class LeaderboardPageTests(EvaluationServer server)
{
    [Fact]
    public async Task The_board_ranks_the_two_classifiers_charts_them_and_the_model_page_shows_the_rank()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var work = Directory.CreateTempSubdirectory("feather-e2e-board-page-").FullName;
        try
        {
            var dataset = $"digits-page-{suffix}";
            var published = await server.Cli("datasets", "publish",
                LeaderboardTests.Copy(server, "samples/datasets/digits-heldout", Path.Combine(work, dataset), "dataset.json", "\"name\": \"digits-heldout\"", $"\"name\": \"{dataset}\""),
                "--visibility", "public");
            Assert.True(published.ExitCode == 0, published.ToString());
            var (logreg, centroid) = ($"page-logreg-{suffix}", $"page-centroid-{suffix}");
            foreach (var (sample, name) in new[] { ("image-classifier", logreg), ("digits-centroid", centroid) })
            {
                var dir = LeaderboardTests.Copy(server, $"samples/{sample}", Path.Combine(work, name), "model.py", $"name=\"{sample}\"", $"name=\"{name}\"");
                var publish = await server.Cli("publish", dir, "--wait", "--visibility", "public");
                Assert.True(publish.ExitCode == 0, publish.ToString());
                var evaluation = await server.WaitForEvaluationAsync("admin", name, dataset);
                Assert.True(evaluation["status"]!.GetValue<string>() == "succeeded", evaluation.ToJsonString());
            }

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium", Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            });
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = server.Server.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            context.SetDefaultTimeout(30_000);
            var page = await context.NewPageAsync();
            var thirdParty = new List<string>();
            await page.RouteAsync(url => !url.StartsWith(server.Server.Url) && !url.StartsWith("data:") && !url.StartsWith("blob:"),
                async route => { thirdParty.Add(route.Request.Url); await route.AbortAsync(); });
            var errors = new List<string>();
            page.PageError += (_, e) => errors.Add(e);

            // the list of boards, from the navigation
            await page.GotoAsync("/");
            await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Leaderboards" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Leaderboards", Level = 1 })).ToBeVisibleAsync();
            var row = page.Locator($"#boards tbody tr:has(a[href='/datasets/admin/{dataset}'])");   // the dataset is shown by its title
            await Expect(row).ToContainTextAsync("image-classification");
            await Expect(row).ToContainTextAsync($"admin/{logreg}");   // the leader
            await row.GetByRole(AriaRole.Link, new() { Name = "image-classification" }).ClickAsync();

            // the board: ranked rows with both metrics, and the chart drawn by Chart.js
            await Expect(page).ToHaveURLAsync(new Regex($@"/leaderboards/image-classification\?dataset=admin%2F{dataset}&version=1$"));
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "image-classification leaderboard", Level = 1 })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Columnheader, new() { Name = "Accuracy ↑" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Columnheader, new() { Name = "Macro-F1 ↑" })).ToBeVisibleAsync();
            // other image classifiers of this server (the other evaluation tests') are evaluated on the dataset too
            var rows = page.Locator("#leaderboard tbody tr");
            var first = rows.Filter(new() { HasText = $"admin/{logreg}" });
            var second = rows.Filter(new() { HasText = $"admin/{centroid}" });
            await Expect(first.Locator("td.rank")).ToHaveTextAsync("1");
            await Expect(second).ToContainTextAsync("0.9067");
            var ranks = await rows.Locator("td.rank").AllTextContentsAsync();
            Assert.True(int.Parse(await second.Locator("td.rank").TextContentAsync() ?? "0") > 1, string.Join(",", ranks));
            Assert.Equal(ranks.Select(int.Parse).Order().ToArray(), ranks.Select(int.Parse).ToArray());
            var chart = page.GetByRole(AriaRole.Img, new() { Name = "accuracy of each model over its versions" });
            await Expect(chart).ToHaveAttributeAsync("data-points", new Regex("^[1-9][0-9]*$"));
            Assert.True(await page.EvaluateAsync<bool>("() => typeof window.Chart === 'function' && !!window.Chart.getChart(document.getElementById('lb-chart'))"));
            var shots = Environment.GetEnvironmentVariable("FEATHER_SCREENSHOTS") == "1"
                ? Path.Combine(server.Server.RepoRoot, "docs", "images") : Path.Combine(Path.GetTempPath(), "feather-screenshots");
            Directory.CreateDirectory(shots);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "leaderboard.png"), FullPage = true });

            // the model page's Scores tab
            await second.GetByRole(AriaRole.Link, new() { Name = $"admin/{centroid}" }).ClickAsync();
            await page.GetByRole(AriaRole.Tab, new() { Name = "Scores" }).ClickAsync();
            var score = page.Locator("#scores tbody tr").Filter(new() { HasText = dataset });
            await Expect(score.Locator("td.rank")).ToHaveTextAsync(new Regex(@"^([2-9]|[1-9][0-9]+) of ([2-9]|[1-9][0-9]+)$"));
            await Expect(score).ToContainTextAsync("0.9067");

            Assert.Empty(thirdParty);
            Assert.Empty(errors);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The branching and looping samples (samples/digit-check, samples/blur-refine) through the real product: bin/feather-server
/// with real containers, bin/feather, and Debian's Chromium. The runner image is built from this checkout's SDK under its
/// own tag (feather-runner:graph-HASH), so the test never depends on, nor moves, the shared feather-runner:latest.
/// </summary>
public sealed class GraphFixture : IAsyncLifetime
{
    public FeatherServer Server { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public string RunnerImage { get; private set; } = "";
    public string Token { get; private set; } = "";
    /// <summary>Script errors of the pages (a test that fails says them; none may happen).</summary>
    public System.Collections.Concurrent.ConcurrentBag<string> PageErrors { get; } = [];

    public async Task InitializeAsync()
    {
        var root = FeatherServer.FindRepoRoot();
        var baseImage = (await FeatherServer.Docker("image", "inspect", "feather-base:bookworm")).ExitCode == 0 ? "feather-base:bookworm" : "debian:bookworm-slim";
        var sdk = Directory.GetFiles(Path.Combine(root, "python-sdk", "feather"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains("__pycache__")).OrderBy(f => f, StringComparer.Ordinal).Select(File.ReadAllBytes).SelectMany(b => b).ToArray();
        RunnerImage = $"feather-runner:graph-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(sdk))[..12]}";
        var built = await CommandResult.RunAsync("docker", ["build", "-q", "--build-arg", $"BASE_IMAGE={baseImage}", "-f", "images/runner/Dockerfile",
            "-t", RunnerImage, "python-sdk"], root, null, new Dictionary<string, string>());
        Assert.True(built.ExitCode == 0, $"building {RunnerImage} failed: {built}");

        Server = new FeatherServer(new Dictionary<string, string> { ["Runner__BaseImage"] = RunnerImage });
        await Server.InitializeAsync();
        foreach (var sample in new[] { "digit-check", "blur-refine" })
        {
            var publish = await Server.Cli("publish", $"samples/{sample}", "--visibility", "public", "--wait");
            Assert.True(publish.ExitCode == 0, $"publishing samples/{sample} failed: {publish}");
            Assert.Contains("image: ready", publish.Stdout);
        }
        var token = await Server.Http.PostAsJsonAsync($"{Server.Url}/api/auth/tokens",
            new { username = "admin", password = Server.AdminPassword, name = "graph-e2e", scopes = new[] { "read", "run" } });
        Token = (await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;

        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        });
    }

    public async Task<IPage> NewPage()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Server.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        page.PageError += (_, error) => PageErrors.Add(error);
        page.Console += (_, message) => { if (message.Type == "error") PageErrors.Add(message.Text); };
        return page;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        Playwright?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
        if (RunnerImage.Length > 0) await FeatherServer.Docker("image", "rm", RunnerImage);
    }
}

[CollectionDefinition("graph")]
public sealed class GraphCollection : ICollectionFixture<GraphFixture>;

[Collection("graph")]
public sealed class GraphTests(GraphFixture fx)
{
    private static readonly LocatorAssertionsToBeVisibleOptions StepTimeout = new() { Timeout = 180_000 };
    private FeatherServer Server => fx.Server;

    private static JsonObject Upload(string root, string path, string mediaType) =>
        new() { ["files"] = new JsonArray(new JsonObject
        {
            ["name"] = Path.GetFileName(path), ["media_type"] = mediaType,
            ["data"] = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(root, path))),
        }) };

    /// <summary>An inputs file naming the path: {"path": [{"step", "responses"}, ...]}.</summary>
    private async Task<string> InputsFile(params (string Step, JsonObject Responses)[] path)
    {
        var file = Path.Combine(Server.ConfigHome, $"inputs-{Guid.NewGuid():N}.json");
        var json = new JsonObject { ["path"] = new JsonArray(path.Select(p => (JsonNode)new JsonObject { ["step"] = p.Step, ["responses"] = p.Responses }).ToArray()) };
        await File.WriteAllTextAsync(file, json.ToJsonString());
        return file;
    }

    private JsonObject Digit(string name) => new() { ["image"] = Upload(Server.RepoRoot, $"samples/digit-check/images/{name}", "image/png") };

    private static JsonElement[] Steps(CommandResult run) =>
        JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps").EnumerateArray().ToArray();

    private static string[] Texts(JsonElement step, int output = 0) =>
        step.GetProperty("outputs")[output].GetProperty("value").GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();

    [Fact]
    public async Task Digit_check_takes_the_unsure_branch_and_asks_then_the_confident_branch_ends_at_once()
    {
        // unsure (digit 7 at 82%): classify, then the user chooses among the guesses
        var unsure = await Server.Cli("run", "admin/digit-check", "--inputs", "samples/digit-check/example-inputs.json", "--json");
        Assert.True(unsure.ExitCode == 0, unsure.ToString());
        var steps = Steps(unsure);
        Assert.Equal(["classify", "choose"], steps.Select(s => s.GetProperty("name").GetString()!).ToArray());
        Assert.Equal("unsure", steps[0].GetProperty("branch").GetString());
        Assert.Equal(["not sure: 7 (82%), 9 (15%), 8 (1%)"], Texts(steps[0]));
        Assert.Equal(["You chose 7; it was the model's first guess."], Texts(steps[1]));
        Assert.True(JsonDocument.Parse(unsure.Stdout).RootElement.GetProperty("complete").GetBoolean());

        // confident (digit 0 at 97%): the run ends after classify
        var inputs = await InputsFile(("classify", Digit("digit-0.png")));
        var confident = await Server.Cli("run", "admin/digit-check", "--inputs", inputs, "--json");
        Assert.True(confident.ExitCode == 0, confident.ToString());
        steps = Steps(confident);
        Assert.Single(steps);
        Assert.Equal("confident", steps[0].GetProperty("branch").GetString());
        Assert.Equal(["0 (97% sure)"], Texts(steps[0]));
        Assert.Empty(steps[0].GetProperty("next").EnumerateArray());
        Assert.True(steps[0].GetProperty("ends").GetBoolean());
    }

    [Fact]
    public async Task A_forged_step_that_is_not_next_on_the_path_is_refused_with_409()
    {
        // through the CLI: the inputs file names choose after the confident branch
        var inputs = await InputsFile(("classify", Digit("digit-0.png")),
            ("choose", new JsonObject { ["guesses"] = new JsonObject { ["selected"] = 0 } }));
        var forged = await Server.Cli("run", "admin/digit-check", "--inputs", inputs);
        Assert.NotEqual(0, forged.ExitCode);
        Assert.Contains("not next on the path", forged.Stderr);

        // through the API: a run of the unsure branch, then a submission of classify at position 1
        using var http = new HttpClient { BaseAddress = new Uri(Server.Url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fx.Token);
        var run = await (await http.PostAsJsonAsync("/api/models/admin/digit-check/runs", new { })).Content.ReadFromJsonAsync<JsonElement>();
        var id = run.GetProperty("id").GetString()!;
        var first = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/steps/0")
        {
            Content = new StringContent(new JsonObject { ["responses"] = Digit("digit-7.png") }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        first.Headers.Add("Prefer", "wait=120");
        var classified = await (await http.SendAsync(first)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("succeeded", classified.GetProperty("status").GetString());
        var refused = await http.PostAsJsonAsync($"/api/runs/{id}/steps/1", new { responses = new { }, step = "classify" });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("offers 'choose'", await refused.Content.ReadAsStringAsync());
        // and a response choosing a guess that was never offered is refused by the server (400), before any container
        var outside = await http.PostAsJsonAsync($"/api/runs/{id}/steps/1", new { responses = new { guesses = new { selected = 7 } } });
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
    }

    [Fact]
    public async Task Blur_refine_loops_through_several_iterations_until_the_model_ends_the_loop()
    {
        var run = await Server.Cli("run", "admin/blur-refine", "--inputs", "samples/blur-refine/example-inputs.json", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var steps = Steps(run);
        Assert.Equal(["start", "refine", "refine", "refine", "save"], steps.Select(s => s.GetProperty("name").GetString()!).ToArray());
        Assert.Equal([1, 1, 2, 3, 1], steps.Select(s => s.GetProperty("iteration").GetInt32()).ToArray());
        Assert.Equal(["again", "again", "done"], steps[1..4].Select(s => s.GetProperty("branch").GetString()!).ToArray());
        Assert.Equal(["refine", "save"], steps[1].GetProperty("next").EnumerateArray().Select(n => n.GetString()!).ToArray());
        Assert.Equal(["save"], steps[3].GetProperty("next").EnumerateArray().Select(n => n.GetString()!).ToArray());
        var saved = steps[4].GetProperty("outputs")[1].GetProperty("value").GetProperty("files")[0];
        Assert.Equal("blur-1.png", saved.GetProperty("name").GetString());
    }

    /// <summary>The SDK's client (python-sdk, this checkout) against the real server: it follows the path the server offers.</summary>
    [Fact]
    public async Task Ftr_client_advances_along_branches_and_loop_iterations()
    {
        const string script = """
            import json, sys
            import feather as ftr
            url, token = sys.argv[1], sys.argv[2]
            client = ftr.Client(url, token=token, poll_interval=0.2)
            image = {"files": [ftr.Client.file("samples/blur-refine/images/cameraman.jpg")]}
            run = client.run("admin/blur-refine")
            run.advance({"upload": image}, timeout=180)
            first = run.offered()
            run.advance({"current": {"selected": [3]}}, timeout=180)          # refine, strength 4
            second = run.offered()
            run.advance({"current": {"selected": [0]}}, step="refine", timeout=180)
            outputs = run.advance({"current": {"selected": [5]}}, step="save", timeout=180)
            try:
                run.advance({})
                refused = None
            except ftr.ApiError as e:
                refused = e.status
            digit = client.run("admin/digit-check")
            answer = digit.advance({"image": {"files": [ftr.Client.file("samples/digit-check/images/digit-0.png")]}}, timeout=180)
            handle = client.execute("admin/digit-check", {"image": {"files": [ftr.Client.file("samples/digit-check/images/digit-7.png")]}}, wait=60)
            executed = handle.result(timeout=180)
            print(json.dumps({"first": first, "second": second, "path": run.path, "complete": run.complete,
                              "saved": outputs[1]["value"]["files"][0]["name"], "refused": refused,
                              "digit": [digit.path, digit.complete, answer[0]["value"]["texts"]],
                              "executed": [handle.state["branch"], handle.state["next"], executed[0]["value"]["texts"]]}))
            """;
        var path = Path.Combine(Server.ConfigHome, "client_path.py");
        await File.WriteAllTextAsync(path, script);
        var result = await CommandResult.RunAsync("/usr/bin/python3", [path, Server.Url, fx.Token], Server.RepoRoot, null,
            new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(Server.RepoRoot, "python-sdk") });
        Assert.True(result.ExitCode == 0, result.ToString());
        var doc = JsonDocument.Parse(result.Stdout).RootElement;
        Assert.Equal("[1,[\"refine\"],false]", doc.GetProperty("first").GetRawText().Replace(" ", ""));
        Assert.Equal("[2,[\"refine\",\"save\"],false]", doc.GetProperty("second").GetRawText().Replace(" ", ""));
        Assert.Equal(["start", "refine", "refine", "save"], doc.GetProperty("path").EnumerateArray().Select(p => p.GetString()!).ToArray());
        Assert.True(doc.GetProperty("complete").GetBoolean());
        Assert.Equal("blur-0.png", doc.GetProperty("saved").GetString());
        Assert.Equal(409, doc.GetProperty("refused").GetInt32());
        Assert.Equal("[[\"classify\"],true,[\"0(97%sure)\"]]", doc.GetProperty("digit").GetRawText().Replace(" ", ""));
        Assert.Equal("[\"unsure\",[\"choose\"],[\"notsure:7(82%),9(15%),8(1%)\"]]", doc.GetProperty("executed").GetRawText().Replace(" ", ""));
    }

    [Fact]
    public async Task Feather_run_interactive_asks_which_step_comes_next_after_a_loop_iteration()
    {
        // start (upload), refine once (strength 4), then choose save over another iteration, and save at "keep this one"
        var stdin = "samples/blur-refine/images/cameraman.jpg\n4\n2\n6\n";
        var run = await Server.CliWithInput(stdin, "run", "admin/blur-refine", "--interactive", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("what comes next?", run.Stderr);
        Assert.Contains("1. refine (the model's choice)", run.Stderr);
        Assert.Contains("2. save", run.Stderr);
        var steps = Steps(run);
        Assert.Equal(["start", "refine", "save"], steps.Select(s => s.GetProperty("name").GetString()!).ToArray());
        Assert.Equal("blur-4.png", steps[2].GetProperty("outputs")[1].GetProperty("value").GetProperty("files")[0].GetProperty("name").GetString());
    }

    [Fact]
    public Task In_the_browser_back_and_re_run_across_the_branch_leaves_the_old_branch_stale() => WithPageErrors(BranchInTheBrowser);

    /// <summary>Runs a browser test; when it fails, its message carries the pages' script errors.</summary>
    private async Task WithPageErrors(Func<Task> test)
    {
        try
        {
            await test();
        }
        catch (Exception e) when (!fx.PageErrors.IsEmpty)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\npage errors:\n{string.Join("\n", fx.PageErrors)}");
        }
    }

    private async Task BranchInTheBrowser()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/digit-check");
        // the model page shows the graph of steps
        var graph = page.GetByRole(AriaRole.Figure);
        await Expect(graph).ToContainTextAsync("Graph of steps");
        await Expect(graph).ToContainTextAsync("confident: end of the run");
        await Expect(graph).ToContainTextAsync("unsure: Choose");

        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Upload a digit" });
        await upload.GetByLabel("Choose a file or drop it here").SetInputFilesAsync([Path.Combine(Server.RepoRoot, "samples/digit-check/images/digit-7.png")]);
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Classify”" }).ClickAsync();
        // unsure: the run goes on to Choose
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2: Choose" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByText("Branch: unsure.")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Radio, new() { Name = "9 (15%)" }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Choose”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByText("You chose 9; the model's first guess was 7 (82%).")).ToBeVisibleAsync();

        // back across the branch: re-run classify on a digit it is sure of
        await page.GetByRole(AriaRole.Button, new() { Name = "Back" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Back" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 1: Classify" })).ToBeVisibleAsync();
        upload = page.GetByRole(AriaRole.Group, new() { Name = "Upload a digit" });
        var remove = upload.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^Remove ") });
        if (await remove.CountAsync() > 0) await remove.First.ClickAsync();
        await upload.GetByLabel("Choose a file or drop it here").SetInputFilesAsync([Path.Combine(Server.RepoRoot, "samples/digit-check/images/digit-0.png")]);
        await page.GetByRole(AriaRole.Button, new() { Name = "Re-run “Classify”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByText("0 (97% sure)")).ToBeVisibleAsync();
        // the choose step of the unsure branch left the path: shown as stale, and no longer a step of the path
        await Expect(page.GetByText(new Regex("Left behind by a re-run \\(stale\\): Choose"))).ToBeVisibleAsync();
        var progress = page.GetByRole(AriaRole.Navigation, new() { Name = "Run progress" });
        await Expect(progress.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^2 ?Choose") })).ToHaveCountAsync(0);

        // the server agrees: the path is classify alone, complete, with choose discarded as stale
        var runId = Regex.Match(page.Url, "/runs/([0-9a-f]+)").Groups[1].Value;
        var stored = await Server.Http.GetFromJsonAsync<JsonElement>($"{Server.Url}/api/runs/{runId}");
        Assert.Equal(["classify"], stored.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToArray());
        Assert.True(stored.GetProperty("complete").GetBoolean());
        Assert.Contains(stored.GetProperty("discarded").EnumerateArray(), s => s.GetProperty("name").GetString() == "choose" && s.GetProperty("status").GetString() == "stale");
    }

    [Fact]
    public Task In_the_browser_a_loop_shows_its_iterations_and_offers_to_run_again_or_move_on() => WithPageErrors(LoopInTheBrowser);

    private async Task LoopInTheBrowser()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/blur-refine");
        await page.GetByRole(AriaRole.Group, new() { Name = "Upload an image" }).GetByLabel("Choose a file or drop it here")
            .SetInputFilesAsync([Path.Combine(Server.RepoRoot, "samples/blur-refine/images/cameraman.jpg")]);
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Start”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2: Refine" })).ToBeVisibleAsync(StepTimeout);
        await page.GetByRole(AriaRole.Radio, new() { Name = "8", Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Refine”" }).ClickAsync();
        // the second iteration: run it again, or move on to Save
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 3: Refine (iteration 2)" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Run “Save”" })).ToBeVisibleAsync();
        var progress = page.GetByRole(AriaRole.Navigation, new() { Name = "Run progress" });
        await Expect(progress).ToContainTextAsync("Refine (2)");
        // resume: a reload shows the run where it was, on the path the server kept
        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 3: Refine (iteration 2)" })).ToBeVisibleAsync();
        progress = page.GetByRole(AriaRole.Navigation, new() { Name = "Run progress" });
        await Expect(progress).ToContainTextAsync("or instead: Save");
        await page.GetByRole(AriaRole.Radio, new() { Name = "1", Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Refine” again" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 4: Refine (iteration 3)" })).ToBeVisibleAsync(StepTimeout);
        await page.GetByRole(AriaRole.Radio, new() { Name = "keep this one" }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Save”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByText("blur-1.png").First).ToBeVisibleAsync();
    }
}

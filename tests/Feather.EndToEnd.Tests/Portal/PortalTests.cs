using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>The portal as a user meets it: elements found by role and label, real steps in containers.</summary>
[Collection("portal")]
public sealed class PortalTests(PortalFixture fx)
{
    private static readonly LocatorAssertionsToBeVisibleOptions StepTimeout = new() { Timeout = 180_000 };
    /// <summary>Swagger UI parses a 1.5 MB bundle before it renders: on a busy 2-core machine that passes the 5 s default.</summary>
    private static readonly LocatorAssertionsToBeVisibleOptions SwaggerRender = new() { Timeout = 60_000 };

    private string Sample(string path) => Path.Combine(fx.Server.RepoRoot, "samples", path);

    [Fact]
    public async Task Portal_files_are_served_from_the_binary_and_api_paths_are_not_the_portals()
    {
        using var shell = await fx.Server.Http.GetAsync($"{fx.Server.Url}/runs/does-not-matter");
        Assert.Equal(HttpStatusCode.OK, shell.StatusCode);
        Assert.Equal("text/html", shell.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", shell.Headers.CacheControl?.ToString());
        Assert.Contains("/js/app.js", await shell.Content.ReadAsStringAsync());

        using var script = await fx.Server.Http.GetAsync($"{fx.Server.Url}/js/run.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var etag = script.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, $"{fx.Server.Url}/js/run.js");
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await fx.Server.Http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        using var api = await fx.Server.Http.GetAsync($"{fx.Server.Url}/api/no-such-route");
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.NotEqual("text/html", api.Content.Headers.ContentType?.MediaType);
        using var missing = await fx.Server.Http.GetAsync($"{fx.Server.Url}/no-such-page.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_api_reference_page_renders_the_servers_and_a_models_operations_under_the_portals_policy()
    {
        // served from the binary with the right types, and the page under the portal's content-security policy
        using var html = await fx.Server.Http.GetAsync($"{fx.Server.Url}/api/docs");
        Assert.Equal(HttpStatusCode.OK, html.StatusCode);
        Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", html.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("style-src 'self';", html.Headers.GetValues("Content-Security-Policy").Single());
        foreach (var (path, type) in new[] { ("/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript"), ("/js/api-docs.js", "text/javascript"),
                     ("/vendor/swagger-ui/swagger-ui.css", "text/css"), ("/vendor/swagger-ui/LICENSE.txt", "text/plain") })
        {
            using var asset = await fx.Server.Http.GetAsync($"{fx.Server.Url}{path}");
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.Equal(type, asset.Content.Headers.ContentType?.MediaType);
        }
        using var modelPage = await fx.Server.Http.GetAsync($"{fx.Server.Url}/api/models/admin/hello/docs");
        Assert.Equal("text/html", modelPage.Content.Headers.ContentType?.MediaType);

        var page = await fx.NewPage();
        var violations = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") violations.Add(m.Text); };
        await page.GotoAsync("/api/docs");
        await Expect(page.GetByText("Start a run", new() { Exact = true }).First).ToBeVisibleAsync(SwaggerRender);
        await Expect(page.GetByText("Cancel a queued or running step", new() { Exact = true }).First).ToBeVisibleAsync(SwaggerRender);

        // a model's page: from the model page's "Use via API" tab to its reference, its steps by title
        await page.GotoAsync("/models/admin/hello");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Use via API" }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "interactive API reference" }).ClickAsync();
        await page.WaitForURLAsync("**/api/models/admin/hello/docs");
        await Expect(page.GetByText("Step 0: Greet", new() { Exact = true }).First).ToBeVisibleAsync(SwaggerRender);
        await fx.Screenshot(page, "api-reference.png");
        Assert.Empty(violations);
        Assert.Empty(fx.ThirdPartyRequests);
    }

    [Fact]
    public async Task Catalogue_searches_and_filters_by_task()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Models", Exact = true })).ToBeVisibleAsync();
        var models = page.GetByRole(AriaRole.List, new() { Name = "Models" });
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/hello" })).ToBeVisibleAsync();
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/vqg" })).ToBeVisibleAsync();
        await fx.Screenshot(page, "catalogue.png");

        await page.GetByRole(AriaRole.Combobox, new() { Name = "Task" }).SelectOptionAsync("object-detection");
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/hello" })).ToHaveCountAsync(0);
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/vqg" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Task" }).SelectOptionAsync("");
        await page.GetByLabel("Search models").FillAsync("greets");
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/vqg" })).ToHaveCountAsync(0);
        await Expect(models.GetByRole(AriaRole.Link, new() { Name = "admin/hello" })).ToBeVisibleAsync();
        Assert.Contains("q=greets", page.Url);

        // Phone width: nothing wider than the screen.
        var phone = await fx.NewPage(390, 844);
        await phone.GotoAsync("/models/admin/vqg");
        await Expect(phone.GetByRole(AriaRole.Heading, new() { Name = "admin/vqg" })).ToBeVisibleAsync();
        Assert.True(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"));
        Assert.Empty(fx.ThirdPartyRequests);
    }

    [Fact]
    public async Task Hello_runs_in_the_browser_and_its_curl_command_works_as_copied()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/hello");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "admin/hello" })).ToBeVisibleAsync();
        await Expect(page.GetByText("Greets you by name.").First).ToBeVisibleAsync();
        await page.GetByLabel("Your name").FillAsync("Grace");
        await Expect(page.GetByText("5 / 64 characters")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Greet”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByText("Hello, Grace!")).ToBeVisibleAsync();
        Assert.Matches("/runs/[0-9a-f]+$", page.Url);

        await page.GetByRole(AriaRole.Tab, new() { Name = "Use via API" }).ClickAsync();
        var curl = await page.GetByLabel("curl commands").InnerTextAsync();
        Assert.Contains("/api/models/admin/hello/runs", curl);
        Assert.Contains("Grace", curl); // the commands repeat what the user sent
        var bash = await CommandResult.RunAsync("bash", ["-euo", "pipefail", "-c", curl], fx.Server.RepoRoot, null,
            new Dictionary<string, string>(), TimeSpan.FromMinutes(3));
        Assert.True(bash.ExitCode == 0, bash.ToString());
        Assert.Contains("Hello, Grace!", bash.Stdout);
        Assert.Contains("\"status\":\"succeeded\"", bash.Stdout);
    }

    [Fact]
    public async Task Copied_snippets_of_a_model_with_hostile_titles_and_examples_run_none_of_the_authors_commands()
    {
        // A model whose example text closes the shell's single quote and whose step title starts a
        // new line: copied as they are, neither the curl nor the Python snippet may run either command.
        var markers = Directory.CreateTempSubdirectory("feather-pwned-");
        var quoteMarker = Path.Combine(markers.FullName, "quote");
        var lineMarker = Path.Combine(markers.FullName, "line");
        var model = Directory.CreateTempSubdirectory("feather-hostile-snippets-");
        await File.WriteAllTextAsync(Path.Combine(model.FullName, "model.py"), $$"""
            import feather as ftr


            def init():
                return ftr.Text.In(default_text="Ada'; touch {{quoteMarker}} #", title="Your name", max_chars=200)


            @ftr.step(title="Greet\ntouch {{lineMarker}}\nimport os; os.system('touch {{lineMarker}}')", outputs=["greeting"])
            def greet(name: ftr.Text.In) -> ftr.Text.View:
                return ftr.Text.View(f"Hello, {name.get()[0]}!", title="Greeting")


            ftr.build(name="hostile-snippets", init=init, steps=[greet], description="Titles that try to break out.")
            """);
        var publish = await fx.Server.Cli("publish", model.FullName, "--visibility", "public");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        await fx.WaitForImage("admin", "hostile-snippets", 1);

        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/hostile-snippets");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Use via API" }).ClickAsync();
        var curl = await page.GetByLabel("curl commands").InnerTextAsync();
        var python = await page.GetByLabel("Python code").InnerTextAsync();
        Assert.Contains($"touch {quoteMarker}", curl);
        Assert.Contains($"touch {lineMarker}", curl);

        var bash = await CommandResult.RunAsync("bash", ["-euo", "pipefail", "-c", curl], fx.Server.RepoRoot, null,
            new Dictionary<string, string>(), TimeSpan.FromMinutes(3));
        Assert.True(bash.ExitCode == 0, bash.ToString());
        var step = JsonDocument.Parse(bash.Stdout.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal($"Hello, Ada'; touch {quoteMarker} #!", step.GetProperty("outputs")[0].GetProperty("value").GetProperty("texts")[0].GetString());
        Assert.False(File.Exists(quoteMarker), "the curl snippet ran the example text's command");
        Assert.False(File.Exists(lineMarker), "the curl snippet ran the step title's command");

        var py = await CommandResult.RunAsync("/usr/bin/python3", ["-c", python], fx.Server.RepoRoot, null,
            new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(fx.Server.RepoRoot, "python-sdk") }, TimeSpan.FromMinutes(3));
        Assert.True(py.ExitCode == 0, py.ToString());
        Assert.Contains($"Hello, Ada'; touch {quoteMarker} #!", py.Stdout);
        Assert.False(File.Exists(quoteMarker), "the Python snippet ran the example text's command");
        Assert.False(File.Exists(lineMarker), "the Python snippet ran the step title's command");
        markers.Delete(recursive: true);
        model.Delete(recursive: true);
    }

    [Fact]
    public async Task Vqg_upload_select_result_then_back_rerun_and_resume_after_reload()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/vqg");
        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Upload images" });
        await upload.GetByLabel("Choose files or drop them here").SetInputFilesAsync(
            [Sample("vqg/images/astronaut.jpg"), Sample("vqg/images/cameraman.jpg")]);
        await Expect(upload.GetByRole(AriaRole.Button, new() { Name = "Remove astronaut.jpg" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Detect objects”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2 of 2: Generate questions" })).ToBeVisibleAsync(StepTimeout);
        var runUrl = page.Url;
        Assert.Matches("/runs/[0-9a-f]+$", runUrl);
        var image1 = page.GetByRole(AriaRole.Group, new() { Name = "Image 1", Exact = true });
        var boxes = image1.GetByRole(AriaRole.Checkbox);
        Assert.True(await boxes.CountAsync() >= 3, "the astronaut has a face, eyes and a smile to pick from");
        await boxes.Nth(0).CheckAsync();
        await boxes.Nth(1).CheckAsync();
        await Expect(boxes.Nth(2)).ToBeDisabledAsync(); // max_selected = 2
        await Expect(image1.GetByText("2 selected (pick up to 2)")).ToBeVisibleAsync();
        await fx.Screenshot(page, "run-in-progress.png");
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Generate questions”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        var captions = page.Locator("figcaption");
        await Expect(captions).ToHaveCountAsync(2);
        var first = await captions.Nth(0).InnerTextAsync();
        Assert.EndsWith("?", first.Trim());

        // Resume: a reload (or a shared link) shows the same run where it was.
        await page.ReloadAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync();
        await Expect(page.Locator("figcaption").Nth(0)).ToHaveTextAsync(first);
        var shared = await fx.NewPage();
        await shared.GotoAsync(runUrl);
        await Expect(shared.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync();

        // Back to the selection, other choices, re-run the middle step.
        await page.GetByRole(AriaRole.Button, new() { Name = "Back" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2 of 2: Generate questions" })).ToBeVisibleAsync();
        image1 = page.GetByRole(AriaRole.Group, new() { Name = "Image 1", Exact = true });
        boxes = image1.GetByRole(AriaRole.Checkbox);
        await boxes.Nth(0).UncheckAsync();
        await boxes.Nth(1).UncheckAsync();
        await boxes.Nth(2).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Re-run “Generate questions”" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Result" })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.Locator("figcaption").Nth(0)).Not.ToHaveTextAsync(first);

        // Re-running the first step makes the later one stale.
        await page.GetByRole(AriaRole.Button, new() { Name = "Back" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Back" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 1 of 2: Detect objects" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Re-run “Detect objects”" }).ClickAsync();
        var progress = page.GetByRole(AriaRole.Navigation, new() { Name = "Run progress" });
        await Expect(progress.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("Generate questions.*stale") })).ToBeVisibleAsync(StepTimeout);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Step 2 of 2: Generate questions" })).ToBeVisibleAsync(StepTimeout);
        Assert.Empty(fx.ThirdPartyRequests);
    }

    [Fact]
    public async Task Validation_errors_are_shown_at_their_field()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/vqg");
        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Upload images" });
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Detect objects”" }).ClickAsync();
        await Expect(upload.GetByRole(AriaRole.Alert)).ToHaveTextAsync("choose at least 1 file");

        var text = Path.Combine(fx.Server.DataDir, "notes.txt");
        await File.WriteAllTextAsync(text, "not an image");
        await upload.GetByLabel("Choose files or drop them here").SetInputFilesAsync(text);
        await Expect(upload.GetByRole(AriaRole.Alert)).ToContainTextAsync("notes.txt: type .txt is not accepted; use .jpg, .jpeg, .png");
        await Expect(upload).ToHaveAttributeAsync("aria-invalid", "true");
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Detect objects”" }).ClickAsync();
        Assert.Matches("/models/admin/vqg$", page.Url); // nothing was sent: no run was started
        await upload.GetByRole(AriaRole.Button, new() { Name = "Remove notes.txt" }).ClickAsync();
        await Expect(upload.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Sign_in_and_promote_a_version()
    {
        var again = await fx.Server.Cli("publish", "samples/hello", "--visibility", "public", "--notes", "second");
        Assert.True(again.ExitCode == 0, again.ToString());
        var model = await fx.Server.Http.GetFromJsonAsync<JsonElement>($"{fx.Server.Url}/api/models/admin/hello");
        var latest = model.GetProperty("versions").EnumerateArray().Max(v => v.GetProperty("number").GetInt32());
        var live = model.GetProperty("liveVersion").GetInt32();
        var target = live == latest ? latest - 1 : latest;

        var page = await fx.NewPage();
        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync("wrong password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Wrong username or password.");
        await page.GetByLabel("Password").FillAsync(fx.Server.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync();
        await Expect(page.GetByLabel("Visibility of admin/hello")).ToHaveValueAsync("public");

        await page.GetByRole(AriaRole.Link, new() { Name = "Versions of hello" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Versions of admin/hello" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = $"Promote version {target}" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = $"Version {target} is live." })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = $"Promote version {target}" })).ToHaveCountAsync(0);
        model = await fx.Server.Http.GetFromJsonAsync<JsonElement>($"{fx.Server.Url}/api/models/admin/hello");
        Assert.Equal(target, model.GetProperty("liveVersion").GetInt32());

        await page.GetByRole(AriaRole.Button, new() { Name = "Build log of version 1" }).ClickAsync();
        await Expect(page.GetByLabel("Build log of version 1")).Not.ToBeEmptyAsync();

        // API tokens: created, shown once, revoked.
        await page.GetByRole(AriaRole.Link, new() { Name = "API tokens" }).ClickAsync();
        await page.GetByLabel("Token name").FillAsync("browser-test");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        var token = await page.GetByLabel("New token").InnerTextAsync();
        using (var me = new HttpRequestMessage(HttpMethod.Get, $"{fx.Server.Url}/api/me"))
        {
            me.Headers.Authorization = new("Bearer", token.Trim());
            using var answer = await fx.Server.Http.SendAsync(me);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke browser-test" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Revoke browser-test" })).ToHaveCountAsync(0);
        using (var me = new HttpRequestMessage(HttpMethod.Get, $"{fx.Server.Url}/api/me"))
        {
            me.Headers.Authorization = new("Bearer", token.Trim());
            using var answer = await fx.Server.Http.SendAsync(me);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        }

        // Teams: create one and add a member, who then shows in the team's API answer.
        var admin = (await (await fx.Server.Http.PostAsJsonAsync($"{fx.Server.Url}/api/auth/tokens",
            new { username = "admin", password = fx.Server.AdminPassword, name = "team-test", scopes = new[] { "read", "publish", "admin" } }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        using (var create = new HttpRequestMessage(HttpMethod.Post, $"{fx.Server.Url}/api/users")
        { Content = JsonContent.Create(new { username = "nora", password = "nora-password-1" }) })
        {
            create.Headers.Authorization = new("Bearer", admin);
            using var answer = await fx.Server.Http.SendAsync(create);
            Assert.True(answer.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, answer.ToString());
        }
        await page.GetByRole(AriaRole.Link, new() { Name = "Teams" }).ClickAsync();
        await page.GetByLabel("Team name").FillAsync("vision-lab");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create team" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Team vision-lab created." })).ToBeVisibleAsync();
        await page.GetByLabel("Add a member to vision-lab").FillAsync("nora");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.List, new() { Name = "Members of vision-lab" }).GetByText("nora")).ToBeVisibleAsync();
        using (var team = new HttpRequestMessage(HttpMethod.Get, $"{fx.Server.Url}/api/teams/vision-lab"))
        {
            team.Headers.Authorization = new("Bearer", admin);
            using var answer = await fx.Server.Http.SendAsync(team);
            Assert.Contains("nora", await answer.Content.ReadAsStringAsync());
        }

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out admin" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Sign in" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Account_section_changes_the_password_and_signs_out_everywhere()
    {
        var admin = (await (await fx.Server.Http.PostAsJsonAsync($"{fx.Server.Url}/api/auth/tokens",
            new { username = "admin", password = fx.Server.AdminPassword, name = "account-test", scopes = new[] { "read", "admin" } }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        using (var create = new HttpRequestMessage(HttpMethod.Post, $"{fx.Server.Url}/api/users")
        { Content = JsonContent.Create(new { username = "pia", password = "pia-password-1" }) })
        {
            create.Headers.Authorization = new("Bearer", admin);
            using var answer = await fx.Server.Http.SendAsync(create);
            Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        }
        var piaToken = (await (await fx.Server.Http.PostAsJsonAsync($"{fx.Server.Url}/api/auth/tokens",
            new { username = "pia", password = "pia-password-1", name = "script" }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();

        var page = await fx.NewPage();
        await page.GotoAsync("/login");
        await page.GetByLabel("Username").FillAsync("pia");
        await page.GetByLabel("Password").FillAsync("pia-password-1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "My models" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "API tokens" }).ClickAsync();

        await page.GetByLabel("Current password").FillAsync("pia-password-1");
        await page.GetByLabel("New password (at least 8 characters)").FillAsync("pia-password-2");
        await page.GetByLabel("New password again").FillAsync("pia-password-2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Password changed." })).ToBeVisibleAsync();
        var login = await fx.Server.Http.PostAsJsonAsync($"{fx.Server.Url}/api/auth/tokens", new { username = "pia", password = "pia-password-2" });
        Assert.Equal(HttpStatusCode.Created, login.StatusCode);

        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Sign in" })).ToBeVisibleAsync();
        using var me = new HttpRequestMessage(HttpMethod.Get, $"{fx.Server.Url}/api/me");
        me.Headers.Authorization = new("Bearer", piaToken);
        using var refused = await fx.Server.Http.SendAsync(me);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Embed_page_shows_only_the_run_interface()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/hello?tab=embed");
        var snippet = await page.GetByLabel("Embed code").InnerTextAsync();
        Assert.Contains($"<iframe src=\"{fx.Server.Url}/embed/admin/hello\"", snippet);

        var host = await fx.NewPage(700, 700);
        await host.SetContentAsync($"<!doctype html><title>host</title>{snippet}");
        var frame = host.FrameLocator("iframe");
        await Expect(frame.GetByLabel("Your name")).ToBeVisibleAsync();
        await Expect(frame.GetByRole(AriaRole.Banner)).Not.ToBeVisibleAsync();
        await Expect(frame.GetByRole(AriaRole.Tab)).ToHaveCountAsync(0);
        await frame.GetByLabel("Your name").FillAsync("Embed");
        await frame.GetByRole(AriaRole.Button, new() { Name = "Run “Greet”" }).ClickAsync();
        await Expect(frame.GetByText("Hello, Embed!")).ToBeVisibleAsync(StepTimeout);
    }

    [Fact]
    public async Task Use_via_api_page_lists_every_step_of_vqg()
    {
        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/vqg");
        await Expect(page.GetByRole(AriaRole.Group, new() { Name = "Upload images" })).ToBeVisibleAsync();
        await fx.Screenshot(page, "model-page.png");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Use via API" }).ClickAsync();
        var curl = await page.GetByLabel("curl commands").InnerTextAsync();
        Assert.Contains("/steps/0", curl);
        Assert.Contains("/steps/1", curl);
        Assert.Contains("base64 -w0", curl);
        var python = await page.GetByLabel("Python code").InnerTextAsync();
        Assert.Contains("ftr.Client(", python);
        await Expect(page.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("OpenAPI document") })).ToBeVisibleAsync();
        await fx.Screenshot(page, "use-via-api.png");

        // Keyboard: the tabs move with the arrow keys.
        await page.GetByRole(AriaRole.Tab, new() { Name = "Use via API" }).FocusAsync();
        await page.Keyboard.PressAsync("ArrowRight");
        await Expect(page.GetByRole(AriaRole.Tab, new() { Name = "Versions" })).ToBeFocusedAsync();
        await Expect(page.GetByRole(AriaRole.Tab, new() { Name = "Versions" })).ToHaveAttributeAsync("aria-selected", "true");
    }
}

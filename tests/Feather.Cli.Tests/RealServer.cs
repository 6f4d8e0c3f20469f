using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>
/// The REAL feather-server for the CLI's contract suite (the same one tests/python/test_client.py
/// runs the SDK client against): the server built with this solution on a free loopback port, a
/// temporary data directory (real LiteDB file and blob store), the real Docker runner, and
/// tests/models/contract published with the built CLI as admin/contract version 1, tagged stable.
/// FEATHER_MAX_WAIT_SECONDS=0 makes every step answer 202, so the CLI's polling is what is tested.
/// One per test collection; everything it creates is removed at the end.
/// </summary>
public sealed class RealServer : IAsyncLifetime
{
    public const string Model = "admin/contract";
    private readonly StringBuilder _log = new();
    private Process? _server;

    public static string RepoRoot { get; } = FindRepoRoot();
    public string DataDir { get; } = Directory.CreateTempSubdirectory("feather-cli-contract-").FullName;
    public string AdminPassword { get; } = Convert.ToHexString(Guid.NewGuid().ToByteArray());
    public string Url { get; private set; } = "";
    public string Token { get; private set; } = "";
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromMinutes(2) };
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>feather-server.dll of the same configuration as these tests (the project reference builds it).</summary>
    public static string ServerDll
    {
        get
        {
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
            var dll = Path.Combine(RepoRoot, "Feather.Server", "bin", configuration, "net10.0", "feather-server.dll");
            return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} does not exist: build Feather.sln first");
        }
    }

    public async Task InitializeAsync()
    {
        var port = FreePort();
        Url = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = DataDir };
        start.ArgumentList.Add(ServerDll);
        start.Environment["FEATHER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["FEATHER_DATA"] = DataDir;
        start.Environment["FEATHER_ADMIN_PASSWORD"] = AdminPassword;
        start.Environment["FEATHER_MAX_WAIT_SECONDS"] = "0";
        start.Environment["Runner__WarmContainers"] = "0";
        _server = Process.Start(start)!;
        _server.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _server.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_server.HasExited) throw new InvalidOperationException($"feather-server exited with {_server.ExitCode}:\n{Log}");
            try
            {
                using var health = await Http.GetAsync($"{Url}/healthz");
                if (health.StatusCode == HttpStatusCode.OK) break;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"feather-server did not answer /healthz within 90 s:\n{Log}");
            await Task.Delay(300);
        }
        Token = await CreateTokenAsync("contract-suite");
        Http.DefaultRequestHeaders.Authorization = new("Bearer", Token);

        using var cli = Cli();
        var published = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", Path.Combine(RepoRoot, "tests", "models", "contract"), "--tag", "stable", "--wait");
        if (published.ExitCode != 0) throw new InvalidOperationException($"feather publish failed: {published.Out}{published.Err}\n{Log}");
    }

    /// <summary>The built CLI pointed at this server, with the given token (default: an admin token).</summary>
    public BuiltCli Cli(string? token = null)
    {
        var cli = new BuiltCli(Url);
        cli.Environment["FEATHER_TOKEN"] = token ?? Token;
        return cli;
    }

    public async Task<string> CreateTokenAsync(string name)
    {
        using var answer = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
            new { username = "admin", password = AdminPassword, name, scopes = new[] { "read", "run", "publish" } });
        answer.EnsureSuccessStatusCode();
        return (await answer.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
    }

    public async Task<JsonNode> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, Url + path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Polls a step until it has the status (or fails the test after two minutes).</summary>
    public async Task WaitForStatusAsync(string runId, int index, string status)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        string? seen = null;
        while (DateTime.UtcNow < deadline)
        {
            seen = (await SendAsync(HttpMethod.Get, $"/api/runs/{runId}/steps/{index}"))["status"]!.GetValue<string>();
            if (seen == status) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"step {index} of run {runId} is {seen}, never {status}");
    }

    public async Task DisposeAsync()
    {
        var images = new List<string>();
        if (_server is { HasExited: false })
        {
            try
            {
                foreach (var model in (await SendAsync(HttpMethod.Get, "/api/models")).AsArray())
                {
                    var path = $"/api/models/{model!["owner"]}/{model["name"]}";
                    foreach (var version in (await SendAsync(HttpMethod.Get, path + "/versions")).AsArray())
                        if ((await SendAsync(HttpMethod.Get, $"{path}/versions/{version!["number"]}"))["image"]?["versionImage"]?.GetValue<string>() is { Length: > 0 } image)
                            images.Add(image);
                }
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException) { }
            using (var kill = Process.Start("kill", ["-TERM", _server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            if (!_server.WaitForExit(TimeSpan.FromSeconds(20))) _server.Kill(entireProcessTree: true);
        }
        _server?.Dispose();
        var instance = Path.Combine(DataDir, "instance-id");
        if (File.Exists(instance))
        {
            var left = (await Docker("ps", "-aq", "--filter", "label=org.feather.managed=true", "--filter", $"label=org.feather.owner={File.ReadAllText(instance).Trim()}"))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (left.Length > 0) await Docker(["rm", "-f", .. left]);
            foreach (var kind in new[] { "version", "weights" }) // by owner label: also one untagged while a container used it
                images.AddRange((await Docker("images", "-q", "--filter", "label=org.feather.managed=true",
                    "--filter", $"label=org.feather.owner={File.ReadAllText(instance).Trim()}", "--filter", $"label=org.feather.image={kind}"))
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        if (images.Count > 0) await Docker(["rmi", "-f", .. images.Distinct()]);
        Http.Dispose();
        try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static async Task<string> Docker(params string[] args)
    {
        var start = new ProcessStartInfo("docker") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Feather.sln) above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class RealServerCollection : ICollectionFixture<RealServer>
{
    public const string Name = "real feather-server";
}

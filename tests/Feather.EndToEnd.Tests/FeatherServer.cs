using System.Text.Json;
using System.Net.Http.Json;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The real product as a user gets it: bin/feather-server on a free loopback port with a fresh
/// data directory (a real LiteDB file and blob store), the real Docker engine, and bin/feather
/// logged in with its own config directory. ./test.sh builds both binaries first.
/// </summary>
public sealed class FeatherServer : IAsyncLifetime
{
    private readonly IReadOnlyDictionary<string, string> settings;

    public FeatherServer() : this(new Dictionary<string, string>()) { }

    /// <summary>A server with extra environment (configuration keys with __ for :).</summary>
    internal FeatherServer(IReadOnlyDictionary<string, string> settings) => this.settings = settings;

    private readonly StringBuilder serverLog = new();
    private Process? server;

    public string RepoRoot { get; } = FindRepoRoot();
    public string DataDir { get; } = Directory.CreateTempSubdirectory("feather-e2e-data-").FullName;
    public string ConfigHome { get; } = Directory.CreateTempSubdirectory("feather-e2e-config-").FullName;
    public string AdminPassword { get; } = Convert.ToHexString(Guid.NewGuid().ToByteArray());
    public string Url { get; private set; } = "";
    /// <summary>The runner instance id the server labels its containers with (kept in the data directory).</summary>
    public string InstanceId => File.ReadAllText(Path.Combine(DataDir, "instance-id")).Trim();
    public string ServerLog { get { lock (serverLog) return serverLog.ToString(); } }

    /// <summary>The server's log events (one compact JSON object a line: "@m" the rendered message, the properties by name).</summary>
    public IReadOnlyList<JsonElement> LogEvents() =>
        ServerLog.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => { try { return JsonDocument.Parse(l).RootElement.Clone(); } catch (JsonException) { return (JsonElement?)null; } })
            .OfType<JsonElement>().ToList();

    /// <summary>The log events whose rendered message starts with <paramref name="start"/>.</summary>
    public IReadOnlyList<JsonElement> LogEvents(string start) =>
        LogEvents().Where(e => e.TryGetProperty("@m", out var m) && m.GetString()?.StartsWith(start, StringComparison.Ordinal) == true).ToList();
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromMinutes(5) };
    /// <summary>The server process's id (its /proc/&lt;pid&gt;/status tells its peak resident memory).</summary>
    public int ProcessId => server?.Id ?? throw new InvalidOperationException("the server has not started");

    public string Bin(string name)
    {
        var path = Path.Combine(RepoRoot, "bin", name);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} does not exist: run ./test.sh (it builds bin/feather-server and bin/feather first)");
        return path;
    }

    public async Task InitializeAsync()
    {
        var port = FreePort();
        Url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo(Bin("feather-server"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = DataDir,
        };
        psi.Environment["FEATHER_PORT"] = port.ToString();
        psi.Environment["FEATHER_DATA"] = DataDir;
        psi.Environment["FEATHER_ADMIN_PASSWORD"] = AdminPassword;
        foreach (var (key, value) in settings) psi.Environment[key] = value;
        server = Process.Start(psi)!;
        server.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (serverLog) serverLog.AppendLine(e.Data); };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (serverLog) serverLog.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (server.HasExited)
                throw new InvalidOperationException($"feather-server exited with {server.ExitCode}:\n{ServerLog}");
            try
            {
                using var response = await Http.GetAsync($"{Url}/healthz");
                if (response.StatusCode == HttpStatusCode.OK) break;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"feather-server did not answer /healthz within 60 s:\n{ServerLog}");
            await Task.Delay(200);
        }

        var login = await CliWithInput(AdminPassword + "\n", "login", Url, "--user", "admin", "--password-stdin");
        if (login.ExitCode != 0)
            throw new InvalidOperationException($"feather login failed ({login.ExitCode}): {login.Stdout}{login.Stderr}");
    }

    public Task<CommandResult> Cli(params string[] args) => CliWithInput(null, args);

    /// <summary>
    /// The bytes of a file in a step's outputs: inline (<c>data</c>) or, since step files, kept by the server
    /// (<c>url</c>: downloaded as admin, who ran the steps of these tests).
    /// </summary>
    public async Task<byte[]> FileBytesAsync(JsonElement file)
    {
        if (file.TryGetProperty("data", out var data)) return Convert.FromBase64String(data.GetString()!);
        using var login = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
            new { username = "admin", password = AdminPassword, name = "e2e-download", scopes = new[] { "read" } });
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        using var request = new HttpRequestMessage(HttpMethod.Get, Url + file.GetProperty("url").GetString());
        request.Headers.Authorization = new("Bearer", token);
        using var response = await Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"download of {file} answered {(int)response.StatusCode}");
        return await response.Content.ReadAsByteArrayAsync();
    }

    public Task<CommandResult> CliWithInput(string? stdin, params string[] args) =>
        CommandResult.RunAsync(Bin("feather"), args, RepoRoot, stdin, new Dictionary<string, string>
        {
            ["XDG_CONFIG_HOME"] = ConfigHome,
            ["XDG_CACHE_HOME"] = Path.Combine(ConfigHome, "cache"),
            ["FEATHER_URL"] = Url,
            ["FEATHER_PYTHON"] = "/usr/bin/python3",
        });

    /// <summary>
    /// The containers of a server (by its instance id) that are not warm ones (created ahead of
    /// demand, never started) nor prepared ones waiting in the pool (started ahead, still running: a step's
    /// prepared container has exited by the time its result is stored). A finished step's container is
    /// removed just after its result is stored, so this waits up to 5 s for them to go.
    /// </summary>
    public static async Task<string[]> StepContainersAsync(string instanceId)
    {
        string[] steps = [];
        for (var i = 0; i < 50; i++)
        {
            var listed = await Docker("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Label \"org.feather.warm\"}}",
                "--filter", "label=org.feather.managed=true", "--filter", $"label=org.feather.owner={instanceId}");
            steps = listed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => !line.EndsWith(" created true", StringComparison.Ordinal)
                    && !line.EndsWith(" running prepared", StringComparison.Ordinal) && !line.EndsWith(" created prepared", StringComparison.Ordinal))
                .ToArray();
            if (steps.Length == 0) break;
            await Task.Delay(100);
        }
        return steps;
    }

    public static Task<CommandResult> Docker(params string[] args) =>
        CommandResult.RunAsync("docker", args, "/", null, new Dictionary<string, string>());

    public async Task DisposeAsync()
    {
        // The version images this server built (other servers may share the engine: leave theirs).
        var images = await VersionImagesAsync();
        if (server is { HasExited: false })
        {
            // SIGTERM, as Ctrl-C or docker stop would: the server should stop cleanly.
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString()])) await kill.WaitForExitAsync();
            if (!server.WaitForExit(TimeSpan.FromSeconds(20))) server.Kill(entireProcessTree: true);
        }
        server?.Dispose();
        // A server that stopped cleanly has removed its warm containers and every step container.
        var leftovers = !File.Exists(Path.Combine(DataDir, "instance-id")) ? [] : (await Docker("ps", "-aq",
            "--filter", "label=org.feather.managed=true", "--filter", $"label=org.feather.owner={InstanceId}"))
            .Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (leftovers.Length > 0) await Docker(["rm", "-f", .. leftovers]);
        if (File.Exists(Path.Combine(DataDir, "instance-id")))
            foreach (var kind in new[] { "version", "weights" }) // by owner label: also one untagged while a container used it
                images.AddRange((await Docker("images", "-q", "--filter", "label=org.feather.managed=true", "--filter", $"label=org.feather.owner={InstanceId}",
                    "--filter", $"label=org.feather.image={kind}")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (images.Count > 0) await Docker(["rmi", "-f", .. images.Distinct()]);
        Http.Dispose();
        TryDelete(DataDir);
        TryDelete(ConfigHome);
        if (leftovers.Length > 0)
            throw new InvalidOperationException($"the server left {leftovers.Length} container(s) behind after SIGTERM");
    }

    private async Task<List<string>> VersionImagesAsync()
    {
        var images = new List<string>();
        if (server is null || server.HasExited) return images;
        try
        {
            using var login = await Http.PostAsJsonAsync($"{Url}/api/auth/tokens",
                new { username = "admin", password = AdminPassword, name = "e2e-cleanup", scopes = new[] { "read" } });
            var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
            async Task<JsonElement> Get(string path)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, Url + path);
                request.Headers.Authorization = new("Bearer", token);
                using var response = await Http.SendAsync(request);
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            }
            foreach (var model in (await Get("/api/models")).EnumerateArray())
            {
                var path = $"/api/models/{model.GetProperty("owner").GetString()}/{model.GetProperty("name").GetString()}";
                foreach (var version in (await Get(path + "/versions")).EnumerateArray())
                {
                    var detail = await Get($"{path}/versions/{version.GetProperty("number").GetInt32()}");
                    if (detail.TryGetProperty("image", out var image) && image.TryGetProperty("versionImage", out var tag)
                        && tag.GetString() is { Length: > 0 } name)
                        images.Add(name);
                }
            }
        }
        catch (HttpRequestException) { }
        return images;
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The runner image of this checkout's SDK (images/runner/build.sh, which builds it only when its content tag is
    /// missing), for fixtures that need the runtime's newest modes (evaluate, train): its feather-runner:&lt;hash&gt; tag.
    /// </summary>
    public static async Task<string> RunnerImageOfThisCheckoutAsync()
    {
        var build = await CommandResult.RunAsync("bash", ["images/runner/build.sh"], FindRepoRoot(), null, new Dictionary<string, string>());
        var tag = System.Text.RegularExpressions.Regex.Match(build.Stdout, "feather-runner:[0-9a-f]+").Value;
        if (build.ExitCode != 0 || tag.Length == 0) throw new InvalidOperationException($"building the runner image failed: {build}");
        return tag;
    }

    internal static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Feather.sln) above " + AppContext.BaseDirectory);
    }
}

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public static async Task<CommandResult> RunAsync(
        string file, IEnumerable<string> args, string workingDirectory, string? stdin, IDictionary<string, string> env,
        TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(8));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new CommandResult(process.ExitCode, await stdout, await stderr);
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

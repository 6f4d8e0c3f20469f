using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Infrastructure;

/// <summary>
/// The real server on a free loopback port, with a real LiteDB file in a temporary data
/// directory, reached over real HTTP.
/// </summary>
public sealed class FeatherTestServer : IAsyncDisposable
{
    public const string AdminPassword = "admin-password-1";

    private readonly WebApplication _app;
    private readonly bool _ownsData;

    public string DataDirectory { get; }
    public Uri BaseAddress { get; }
    public IServiceProvider Services => _app.Services;

    private FeatherTestServer(WebApplication app, string dataDirectory, bool ownsData, Uri baseAddress)
    {
        _app = app;
        DataDirectory = dataDirectory;
        _ownsData = ownsData;
        BaseAddress = baseAddress;
    }

    /// <param name="settings">Extra configuration keys (FEATHER_MAX_FILES=2, ...).</param>
    /// <param name="services">Service overrides, e.g. test doubles of the runner.</param>
    /// <param name="dataDirectory">Reuse a data directory (restart tests); a new temp one otherwise.</param>
    public static async Task<FeatherTestServer> StartAsync(
        IDictionary<string, string>? settings = null, Action<IServiceCollection>? services = null, string? dataDirectory = null)
    {
        var ownsData = dataDirectory is null;
        dataDirectory ??= Directory.CreateTempSubdirectory("feather-test-").FullName;
        var args = new Dictionary<string, string>
        {
            ["FEATHER_PORT"] = "0",
            ["FEATHER_DATA"] = dataDirectory,
            ["FEATHER_ADMIN_PASSWORD"] = AdminPassword,
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>()) args[k] = v;
        var app = Program.BuildApp(args.Select(kv => $"--{kv.Key}={kv.Value}").ToArray(), s =>
        {
            s.AddExceptionHandler<ServerErrors.Recorder>();
            services?.Invoke(s);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FeatherTestServer(app, dataDirectory, ownsData, new Uri(address));
    }

    /// <summary>Stops the server but keeps its data directory (for restart tests).</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (ObjectDisposedException) { }
        if (_ownsData) await DeleteDataDirectoryAsync(DataDirectory);
    }

    /// <summary>
    /// Deletes a data directory after the last server that used it stopped (a test that restarts servers on one
    /// directory calls this itself), with what those servers left on the engine.
    /// </summary>
    public static async Task DeleteDataDirectoryAsync(string dataDirectory)
    {
        var instance = Path.Combine(dataDirectory, "instance-id");
        if (File.Exists(instance)) await RemoveEngineLeftoversAsync(File.ReadAllText(instance).Trim());
        try { Directory.Delete(dataDirectory, recursive: true); } catch (IOException) { }
    }

    /// <summary>
    /// What a server with the real runner left on the engine: its containers, and its version and weights images,
    /// by their owner label (so also an image untagged while a container still used it). Environment images are
    /// shared by every server with the same spec and stay, as the retention policy would keep them.
    /// </summary>
    public static async Task RemoveEngineLeftoversAsync(string instanceId)
    {
        static async Task<string[]> Docker(params string[] args)
        {
            var start = new System.Diagnostics.ProcessStartInfo("docker", args) { RedirectStandardOutput = true, RedirectStandardError = true };
            try
            {
                using var process = System.Diagnostics.Process.Start(start)!;
                var output = process.StandardOutput.ReadToEndAsync();
                await process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                return (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return []; // no docker CLI: nothing of this server can be on an engine
            }
        }
        var owner = $"label=org.feather.owner={instanceId}";
        var containers = await Docker("ps", "-aq", "--filter", "label=org.feather.managed=true", "--filter", owner);
        if (containers.Length > 0) await Docker(["rm", "-f", .. containers]);
        foreach (var kind in new[] { "version", "weights" })
        {
            var images = await Docker("images", "-q", "--filter", "label=org.feather.managed=true", "--filter", owner, "--filter", $"label=org.feather.image={kind}");
            if (images.Length > 0) await Docker(["rmi", "-f", .. images.Distinct()]);
        }
    }

    public HttpClient Client(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async Task<string> LoginAsync(string username, string password, params string[] scopes)
    {
        using var client = Client();
        var response = await client.PostAsJsonAsync("/api/auth/tokens",
            new { username, password, name = "test", scopes = scopes.Length == 0 ? null : scopes });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"login of {username} failed: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!["token"]!.GetValue<string>();
    }

    public Task<string> AdminTokenAsync() => LoginAsync("admin", AdminPassword, "read", "run", "publish", "admin");

    /// <summary>Creates a user (as admin) and returns a token with read, run and publish.</summary>
    public async Task<string> UserTokenAsync(string username)
    {
        using var admin = Client(await AdminTokenAsync());
        var created = await admin.PostAsJsonAsync("/api/users", new { username, password = "user-password-1" });
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        return await LoginAsync(username, "user-password-1");
    }
}

public static class Http
{
    public static async Task<JsonNode> Json(this HttpResponseMessage response, System.Net.HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}{ServerError(response, body)}");
        return JsonNode.Parse(body.Length == 0 ? "null" : body) ?? JsonValue.Create(0);
    }

    /// <summary>For a 500 from a test server: the exception behind it (<see cref="ServerErrors"/>).</summary>
    private static string ServerError(HttpResponseMessage response, string body)
    {
        if (response.StatusCode != System.Net.HttpStatusCode.InternalServerError) return "";
        try
        {
            var trace = JsonNode.Parse(body)?["traceId"]?.GetValue<string>();
            return trace is not null && ServerErrors.Find(trace) is { } error ? $"\nserver exception: {error}" : "";
        }
        catch (System.Text.Json.JsonException)
        {
            return "";
        }
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Feather.Tests.Swarm;

/// <summary>
/// A one-node swarm and a lab registry for the swarm runner's tests, on the machine's shared Docker engine. If the
/// engine is in no swarm, <c>docker swarm init --advertise-addr 127.0.0.1</c> makes it a one-node swarm and
/// <see cref="DisposeAsync"/> leaves it again (<c>docker swarm leave --force</c>, and removes docker_gwbridge when the
/// init made it; also when the test process is stopped by a signal); an engine already in a swarm (as a manager) is
/// used as it is and left in it, except a swarm a killed lab made (its node carries <see cref="LabLabel"/>), which is
/// left as that lab would have. The registry is
/// Debian's docker-registry run as a child process on a free loopback port with htpasswd credentials and its storage
/// in a temporary directory; the end stops it, deletes its storage and removes the images the engine pulled from it.
/// Plain containers of other users of the engine are not touched. One lab at a time on a machine (a file lock).
/// </summary>
public sealed class SwarmLab : IAsyncDisposable
{
    public const string User = "feather-lab";
    public string Password { get; } = Guid.NewGuid().ToString("n");
    public string Registry { get; private set; } = "";
    public bool JoinedByUs { get; private set; }

    private FileStream? _lock;
    private Process? _registry;
    private string? _dir;
    private bool _gwbridgeBefore;
    private EventHandler? _onExit;
    private int _left;

    /// <summary>On the node of a swarm a lab made: whether docker_gwbridge existed before it (gwbridge, no-gwbridge).</summary>
    public const string LabLabel = "org.feather.swarm-lab";

    public static async Task<SwarmLab> StartAsync()
    {
        var lab = new SwarmLab();
        try
        {
            await lab.InitializeAsync();
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    private async Task InitializeAsync()
    {
        // one lab per machine at a time: the test assemblies run in parallel
        var deadline = DateTime.UtcNow.AddMinutes(20);
        while (_lock is null)
        {
            try
            {
                _lock = new FileStream(Path.Combine(Path.GetTempPath(), "feather-swarm-lab.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(1000);
            }
        }
        var state = (await Docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")).Stdout.Trim();
        if (state == "active true")
        {
            // A swarm a lab made and could not leave (its test process was killed): this lab holds the lock, so no
            // lab is using it; it is taken over, and left at the end, as the engine was before that lab.
            var mark = (await Docker("node", "inspect", "self", "--format", $"{{{{index .Spec.Labels \"{LabLabel}\"}}}}")).Stdout.Trim();
            if (mark is "gwbridge" or "no-gwbridge")
            {
                JoinedByUs = true;
                _gwbridgeBefore = mark == "gwbridge";
            }
        }
        else if (state.StartsWith("inactive", StringComparison.Ordinal))
        {
            _gwbridgeBefore = (await Docker("network", "inspect", "docker_gwbridge")).ExitCode == 0;
            var init = await Docker("swarm", "init", "--advertise-addr", "127.0.0.1");
            if (init.ExitCode != 0) throw new InvalidOperationException("docker swarm init failed: " + init);
            JoinedByUs = true;
            // the swarm is marked as the lab's, so that a later lab leaves it should this process die before it does
            var node = (await Docker("info", "--format", "{{.Swarm.NodeID}}")).Stdout.Trim();
            var marked = await Docker("node", "update", "--label-add", $"{LabLabel}={(_gwbridgeBefore ? "gwbridge" : "no-gwbridge")}", node);
            if (marked.ExitCode != 0) throw new InvalidOperationException("docker node update failed: " + marked);
        }
        else
        {
            throw new InvalidOperationException($"the engine's swarm state is '{state}': the swarm tests need an engine in no swarm or a manager of one");
        }
        if (JoinedByUs)
        {
            // a test host stopped by a signal (a run's time limit) still leaves the swarm
            _onExit = (_, _) =>
            {
                try
                {
                    if (_registry is { HasExited: false }) _registry.Kill();
                }
                catch (InvalidOperationException)
                {
                }
                LeaveSwarm().GetAwaiter().GetResult();
            };
            AppDomain.CurrentDomain.ProcessExit += _onExit;
        }

        _dir = Directory.CreateTempSubdirectory("feather-swarm-registry-").FullName;
        var htpasswd = await Run("htpasswd", ["-Bbn", User, Password]);
        if (htpasswd.ExitCode != 0) throw new InvalidOperationException("htpasswd failed (apt-get install apache2-utils): " + htpasswd);
        await File.WriteAllTextAsync(Path.Combine(_dir, "htpasswd"), htpasswd.Stdout);
        var port = FreePort();
        Registry = $"127.0.0.1:{port}";
        await File.WriteAllTextAsync(Path.Combine(_dir, "config.yml"), $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {_dir}/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            auth:
              htpasswd:
                realm: feather-lab
                path: {_dir}/htpasswd
            """);
        var psi = new ProcessStartInfo("/usr/bin/docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(Path.Combine(_dir, "config.yml"));
        _registry = Process.Start(psi) ?? throw new InvalidOperationException("docker-registry did not start (apt-get install docker-registry)");
        _registry.OutputDataReceived += (_, _) => { };
        _registry.ErrorDataReceived += (_, _) => { };
        _registry.BeginOutputReadLine();
        _registry.BeginErrorReadLine();
        using var http = new HttpClient();
        for (var i = 0; ; i++)
        {
            try
            {
                using var r = await http.GetAsync($"http://{Registry}/v2/");
                if (r.StatusCode == HttpStatusCode.Unauthorized) break; // up, and asking for credentials
            }
            catch (HttpRequestException) when (i < 100)
            {
            }
            if (_registry.HasExited) throw new InvalidOperationException($"docker-registry exited with {_registry.ExitCode}");
            await Task.Delay(100);
        }
    }

    /// <summary>Services, secrets and networks of the swarm carrying org.feather.owner=<paramref name="owner"/>, and their task containers.</summary>
    public static async Task<string[]> LeftoversAsync(string owner)
    {
        var found = new List<string>();
        var filter = $"label=org.feather.owner={owner}";
        foreach (var (kind, args) in new[]
                 {
                     ("service", new[] { "service", "ls", "-q", "--filter", filter }),
                     ("secret", new[] { "secret", "ls", "-q", "--filter", filter }),
                     ("network", new[] { "network", "ls", "-q", "--filter", filter }),
                     ("container", new[] { "ps", "-aq", "--filter", filter }),
                 })
            found.AddRange((await Docker(args)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(id => $"{kind} {id}"));
        return [.. found];
    }

    /// <summary>Waits up to <paramref name="seconds"/> for the leftovers of <paramref name="owner"/> to go (removal runs just after a step's result).</summary>
    public static async Task<string[]> LeftoversAfterAsync(string owner, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var left = await LeftoversAsync(owner);
            if (left.Length == 0 || DateTime.UtcNow > deadline) return left;
            await Task.Delay(250);
        }
    }

    /// <summary>Removes what an owner left (after a failed test), so the swarm can be left clean.</summary>
    public static async Task RemoveOwnedAsync(string owner)
    {
        var filter = $"label=org.feather.owner={owner}";
        foreach (var id in (await Docker("service", "ls", "-q", "--filter", filter)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            await Docker("service", "rm", id.Trim());
        for (var i = 0; i < 40; i++)
        {
            var secrets = (await Docker("secret", "ls", "-q", "--filter", filter)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var networks = (await Docker("network", "ls", "-q", "--filter", filter)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (secrets.Length + networks.Length == 0) break;
            if (secrets.Length > 0) await Docker(["secret", "rm", .. secrets.Select(s => s.Trim())]);
            if (networks.Length > 0) await Docker(["network", "rm", .. networks.Select(s => s.Trim())]);
            await Task.Delay(250);
        }
        // a container the swarm did not remove with its service (a finished replicated job on Docker 20.10)
        foreach (var id in (await Docker("ps", "-aq", "--filter", filter)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            await Docker("rm", "-f", id.Trim());
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Registry.Length > 0)
            {
                // the images the engine pulled from the lab registry (by digest); the builds' own tags are the tests' to remove
                var pulled = await Docker("images", "--digests", "--format", "{{.Repository}}@{{.Digest}}", "--filter", $"reference={Registry}/*/*");
                foreach (var reference in pulled.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    if (!reference.EndsWith("@<none>", StringComparison.Ordinal)) await Docker("rmi", reference);
                var tagged = await Docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", $"reference={Registry}/*/*");
                foreach (var reference in tagged.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    if (!reference.EndsWith(":<none>", StringComparison.Ordinal)) await Docker("rmi", reference);
            }
            if (_registry is { HasExited: false })
            {
                _registry.Kill();
                await _registry.WaitForExitAsync();
            }
            _registry?.Dispose();
            if (_dir is not null) Directory.Delete(_dir, recursive: true);
            if (JoinedByUs)
            {
                await LeaveSwarm();
                var state = (await Docker("info", "--format", "{{.Swarm.LocalNodeState}}")).Stdout.Trim();
                if (state != "inactive") throw new InvalidOperationException($"the engine did not leave the swarm the lab made (state '{state}')");
            }
        }
        finally
        {
            if (_onExit is not null) AppDomain.CurrentDomain.ProcessExit -= _onExit;
            _lock?.Dispose();
        }
    }

    /// <summary>Leaves the swarm this lab made (once), and removes docker_gwbridge when the swarm made it.</summary>
    private async Task LeaveSwarm()
    {
        if (Interlocked.Exchange(ref _left, 1) == 1) return;
        await Docker("swarm", "leave", "--force");
        if (!_gwbridgeBefore)
            for (var i = 0; i < 20 && (await Docker("network", "inspect", "docker_gwbridge")).ExitCode == 0; i++)
            {
                if ((await Docker("network", "rm", "docker_gwbridge")).ExitCode == 0) break;
                await Task.Delay(500);
            }
    }

    public static Task<(int ExitCode, string Stdout, string Stderr)> Docker(params string[] args) => Run("docker", args);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> Run(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

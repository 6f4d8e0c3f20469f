using System.Diagnostics;

namespace Feather.Cli.Tests;

/// <summary>Runs the built <c>feather</c> (feather.dll next to the tests) as a separate process with a private HOME.</summary>
public sealed class BuiltCli : IDisposable
{
    private readonly TempDir _home = new();
    public Dictionary<string, string> Environment { get; } = new();
    public string Home => _home.Path;
    public string CredentialsFile => Path.Combine(Home, ".config", "feather", "credentials.json");

    public BuiltCli(string url)
    {
        Environment["HOME"] = Home;
        Environment["FEATHER_URL"] = url;
        Environment["FEATHER_PYTHON"] = "/usr/bin/python3";
    }

    public sealed record Result(int ExitCode, string Out, string Err);

    public Task<Result> RunWithStdinAsync(string stdin, params string[] args) => RunWithStdinAsync(stdin, TimeSpan.FromSeconds(60), args);

    public Task<Result> RunAsync(TimeSpan timeout, params string[] args) => RunWithStdinAsync("", timeout, args);

    public async Task<Result> RunWithStdinAsync(string stdin, TimeSpan limit, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "feather.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var name in new[] { "FEATHER_URL", "FEATHER_TOKEN", "FEATHER_PYTHON", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "PYTHONPATH" }) start.Environment.Remove(name);
        foreach (var (key, value) in Environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public Task<Result> RunAsync(params string[] args) => RunWithStdinAsync("", args);

    public void Dispose() => _home.Dispose();
}

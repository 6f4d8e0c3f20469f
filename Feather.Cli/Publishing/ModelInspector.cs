using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Config;

namespace Feather.Cli.Publishing;

/// <summary>Runs <c>python3 -m feather inspect DIR</c> (contracts.md section 1) and returns the metadata JSON.</summary>
public sealed class ModelInspector(CliEnvironment env)
{
    public static readonly TimeSpan InspectTimeout = TimeSpan.FromMinutes(2);

    public string Python => env.Variable("FEATHER_PYTHON") ?? "python3";

    /// <summary>
    /// Runs in one Python process (each start of Python with the SDK costs about 0.1 s): imports the SDK from the
    /// user's own PYTHONPATH when it is there, else from the embedded SDK extracted to the cache (argv[1]), then runs
    /// <c>python3 -m feather</c> with the rest of the arguments. Exit code <see cref="NoSdkExitCode"/> when neither
    /// imports.
    /// </summary>
    private const string Bootstrap = """
        import os, sys
        sdk = sys.argv.pop(1)
        try:
            import feather
        except Exception:
            for name in [n for n in sys.modules if n == "feather" or n.startswith("feather.")]:
                del sys.modules[name]
            sys.path.insert(0, sdk)
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (sdk, os.environ.get("PYTHONPATH")) if p)
            try:
                import feather
            except Exception as e:
                print(f"{type(e).__name__}: {e}", file=sys.stderr)
                sys.exit(97)
        import runpy
        runpy.run_module("feather", run_name="__main__", alter_sys=True)
        """;

    private const int NoSdkExitCode = 97;

    public async Task<JsonNode> InspectAsync(string directory, CancellationToken ct)
    {
        var extracted = EmbeddedSdk.Extract(EmbeddedSdk.Load(typeof(ModelInspector).Assembly), ConfigPaths.CacheDirectory(env));
        var result = await RunPythonAsync(["-c", Bootstrap, extracted, "inspect", directory], env.Variable("PYTHONPATH"), $"-m feather inspect {directory}", ct);
        if (result.ExitCode == NoSdkExitCode)
            throw new CliException(ExitCodes.Error, $"{Python} cannot import the Feather SDK extracted to {extracted}:\n{result.Stderr.Trim()}",
                "the SDK needs Python 3.11 or newer; set FEATHER_PYTHON to such a python");
        if (result.ExitCode != 0)
        {
            var message = result.Stderr.Trim();
            throw new CliException(ExitCodes.ValidationFailed,
                $"the model in {directory} does not inspect cleanly:\n{(message.Length > 0 ? message : $"python exited with {result.ExitCode} and printed nothing")}",
                "fix the model file at the line shown, then publish again");
        }
        try
        {
            return JsonNode.Parse(result.Stdout) as JsonObject
                ?? throw new CliException(ExitCodes.Error, "`python3 -m feather inspect` printed JSON that is not an object");
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Error, $"`python3 -m feather inspect` printed something that is not JSON ({e.Message})",
                "does the model print to stdout at import time? print to stderr instead");
        }
    }

    public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

    private async Task<ProcessResult> RunPythonAsync(IEnumerable<string> arguments, string? pythonPath, string shownAs, CancellationToken ct)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        if (pythonPath is null) start.Environment.Remove("PYTHONPATH");
        else start.Environment["PYTHONPATH"] = pythonPath;
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        start.Environment["PYTHONIOENCODING"] = "utf-8";

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception("no process started");
        }
        catch (Win32Exception e)
        {
            throw new CliException(ExitCodes.Error, $"cannot run '{Python}' ({e.Message})",
                "install Python 3.11+ or set FEATHER_PYTHON to the python to use");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(InspectTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                if (ct.IsCancellationRequested) throw;
                throw new CliException(ExitCodes.Error, $"`{Python} {shownAs}` did not finish within {InspectTimeout.TotalMinutes:0} minutes",
                    "does the model do heavy work at import time? move it into init() or a step");
            }
            return new ProcessResult(process.ExitCode, await stdout, await stderr);
        }
    }
}

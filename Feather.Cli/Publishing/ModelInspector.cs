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

    public async Task<JsonNode> InspectAsync(string directory, CancellationToken ct)
    {
        var pythonPath = await PythonPathWithSdkAsync(ct);
        var result = await RunPythonAsync(["-m", "feather", "inspect", directory], pythonPath, ct);
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

    /// <summary>
    /// The PYTHONPATH under which <c>import feather</c> works: the user's own when it already does,
    /// else the embedded SDK extracted to the cache in front of it.
    /// </summary>
    public async Task<string?> PythonPathWithSdkAsync(CancellationToken ct)
    {
        var current = env.Variable("PYTHONPATH");
        if ((await RunPythonAsync(["-c", "import feather"], current, ct)).ExitCode == 0) return current;

        var extracted = EmbeddedSdk.Extract(EmbeddedSdk.Load(typeof(ModelInspector).Assembly), ConfigPaths.CacheDirectory(env));
        var withSdk = current is null ? extracted : extracted + Path.PathSeparator + current;
        var check = await RunPythonAsync(["-c", "import feather"], withSdk, ct);
        if (check.ExitCode != 0)
            throw new CliException(ExitCodes.Error, $"{Python} cannot import the Feather SDK extracted to {extracted}:\n{check.Stderr.Trim()}",
                "the SDK needs Python 3.11 or newer; set FEATHER_PYTHON to such a python");
        return withSdk;
    }

    public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

    public async Task<ProcessResult> RunPythonAsync(IEnumerable<string> arguments, string? pythonPath, CancellationToken ct)
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
                throw new CliException(ExitCodes.Error, $"`{Python} {string.Join(' ', arguments)}` did not finish within {InspectTimeout.TotalMinutes:0} minutes",
                    "does the model do heavy work at import time? move it into init() or a step");
            }
            return new ProcessResult(process.ExitCode, await stdout, await stderr);
        }
    }
}

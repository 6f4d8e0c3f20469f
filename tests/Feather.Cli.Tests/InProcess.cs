namespace Feather.Cli.Tests;

/// <summary>Runs the CLI's entry point in-process with captured streams and a private environment.</summary>
public static class InProcess
{
    public sealed record Result(int ExitCode, string Out, string Err);

    public static async Task<Result> RunAsync(string[] args, Dictionary<string, string>? variables = null, string stdin = "")
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new CliEnvironment
        {
            Out = output, Err = error, In = new StringReader(stdin),
            GetVariable = name => variables is not null && variables.TryGetValue(name, out var v) ? v : null,
        };
        var code = await FeatherApp.RunAsync(args, env);
        return new Result(code, output.ToString(), error.ToString());
    }
}

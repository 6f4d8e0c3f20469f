using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Commands;

namespace Feather.Cli;

/// <summary>Builds the command tree and runs it; turns every error into a message and an exit code.</summary>
public static class FeatherApp
{
    public static RootCommand BuildRoot(CliEnvironment env)
    {
        var root = new RootCommand("feather: publish Python models to a Feather server and run them.")
        {
            GlobalOptions.Json,
            LoginCommand.Create(env),
            LogoutCommand.Create(env),
            WhoamiCommand.Create(env),
            PublishCommand.Create(env),
ModelsCommand.Create(env),
VersionsCommand.Create(env),
            DatasetsCommand.Create(env),
            LeaderboardCommand.Create(env),
            EvaluateCommand.Create(env),
            EvaluationsCommand.Create(env),
            FinetuneCommand.Create(env),
            RunCommand.Create(env),
RunsCommand.Create(env),
TokensCommand.Create(env),
            PasswordCommand.Create(env),
            UsersCommand.Create(env),
            FeedbackCommand.Create(env),
            UsageCommand.Create(env),
            QuotasCommand.Create(env),
        };
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliEnvironment env, CancellationToken ct = default)
    {
        var root = BuildRoot(env);
        var parse = root.Parse(args);
        var json = parse.Errors.Count == 0 && parse.GetValue(GlobalOptions.Json);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) await env.Err.WriteLineAsync($"error: {error.Message}");
            var path = string.Join(' ', parse.CommandResult.Command is RootCommand ? ["feather"] : CommandPath(parse.CommandResult));
            await env.Err.WriteLineAsync($"run `{path} --help` for usage");
            return (int)ExitCodes.Usage;
        }
        try
        {
            var configuration = new InvocationConfiguration { Output = env.Out, Error = env.Err, EnableDefaultExceptionHandler = false };
            return await parse.InvokeAsync(configuration, ct);
        }
        catch (CliException e)
        {
            Report(env, json, e.Code, e.Message, e.Hint, e.Problem);
            return (int)e.Code;
        }
        catch (OperationCanceledException)
        {
            Report(env, json, ExitCodes.Cancelled, "cancelled", null, null);
            return (int)ExitCodes.Cancelled;
        }
        catch (IOException e)
        {
            Report(env, json, ExitCodes.Error, e.Message, null, null);
            return (int)ExitCodes.Error;
        }
        catch (UnauthorizedAccessException e)
        {
            Report(env, json, ExitCodes.Error, e.Message, "check the file's permissions", null);
            return (int)ExitCodes.Error;
        }
    }

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.SymbolResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent)
            if (r is System.CommandLine.Parsing.CommandResult c) names.Push(c.Command is RootCommand ? "feather" : c.Command.Name);
        return names;
    }

    /// <summary>Errors go to stderr as text; with --json a machine-readable copy goes to stdout as well.</summary>
    private static void Report(CliEnvironment env, bool json, ExitCodes code, string message, string? hint, JsonNode? problem)
    {
        // Messages often quote the server's problem details: print them terminal-safe.
        env.Err.WriteLine($"error: {Output.TerminalText.Safe(message)}");
        if (hint is not null) env.Err.WriteLine($"hint: {Output.TerminalText.Safe(hint)}");
        if (!json) return;
        var error = new JsonObject
        {
            ["exitCode"] = (int)code,
            ["code"] = code.ToString(),
            ["message"] = message,
            ["hint"] = hint,
            ["problem"] = problem?.DeepClone(),
        };
        Output.JsonOutput.Write(env.Out, new JsonObject { ["error"] = error });
    }
}

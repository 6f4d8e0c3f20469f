using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather password [--password-stdin]</c>: changes your password (<c>POST /api/auth/password</c>).
/// Your portal sessions end; your tokens, the CLI's included, stay valid.
/// </summary>
public static class PasswordCommand
{
    public static readonly Option<bool> PasswordStdin = new("--password-stdin")
    {
        Description = "Read the current password from the first line of stdin and the new one from the second (for scripts)",
    };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("password", "Change your password (needs the current one; ends your portal sessions)") { PasswordStdin };
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var api = context.Api;
        api.RequireLogin();
        string? current, fresh;
        if (parse.GetValue(PasswordStdin))
        {
            current = await context.Env.In.ReadLineAsync(ct);
            fresh = await context.Env.In.ReadLineAsync(ct);
        }
        else if (context.Env.InIsTerminal)
        {
            current = LoginCommand.Prompt(context, "current password: ", echo: false);
            fresh = LoginCommand.Prompt(context, "new password: ", echo: false);
            if (LoginCommand.Prompt(context, "new password again: ", echo: false) != fresh)
                throw new CliException(ExitCodes.Usage, "the two new passwords differ; nothing was changed");
        }
        else
        {
            throw new CliException(ExitCodes.Usage, "no password given",
                "pipe the current and the new password, one per line, into `feather password --password-stdin`");
        }
        if (string.IsNullOrEmpty(current) || string.IsNullOrEmpty(fresh))
            throw new CliException(ExitCodes.Usage, "a password is empty",
                "give the current password on the first line and the new one on the second");

        await api.PostAsync(Feather.Contracts.Routes.Password, new Feather.Contracts.ChangePasswordRequest(current, fresh), ct);
        if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["passwordChanged"] = true });
        else context.Out.WriteLine("password changed; your portal sessions were signed out (tokens stay valid: `feather logout --everywhere` revokes them)");
        return ExitCodes.Ok;
    }
}

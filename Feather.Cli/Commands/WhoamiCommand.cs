using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary><c>feather whoami</c>: who the server thinks you are (<c>GET /api/me</c>).</summary>
public static class WhoamiCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("whoami", "Show the user the stored token (or FEATHER_TOKEN) belongs to");
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var api = context.Api;
        api.RequireLogin();
        var me = await api.GetAsync("api/me", ct);
        if (context.Json)
        {
            var copy = me?.DeepClone() as JsonObject ?? [];
            copy["server"] = api.Settings.Display;
            copy["tokenSource"] = api.Settings.TokenSource;
            JsonOutput.Write(context.Out, copy);
            return ExitCodes.Ok;
        }
        var admin = me?["isAdmin"]?.GetValueKind() == System.Text.Json.JsonValueKind.True ? " (admin)" : "";
        context.Out.WriteLine($"{Format.Str(me, "username")}{admin} on {api.Settings.Display}");
        var teams = Format.Str(me, "teams");
        if (teams.Length > 0) context.Out.WriteLine($"teams: {teams}");
        context.Out.WriteLine($"token from: {(api.Settings.TokenSource == "login" ? context.Store.Path : api.Settings.TokenSource)}");
        return ExitCodes.Ok;
    }
}

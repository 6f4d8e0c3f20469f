using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Output;
using Feather.Contracts;

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
        var answer = await api.SendAsync<Me>(HttpMethod.Get, Routes.Me, null, ct);
        if (context.Json)
        {
            var copy = answer.Body?.DeepClone() as JsonObject ?? [];
            copy["server"] = api.Settings.Display;
            copy["tokenSource"] = api.Settings.TokenSource;
            JsonOutput.Write(context.Out, copy);
            return ExitCodes.Ok;
        }
        var me = answer.Value;
        var admin = me.IsAdmin ? " (admin)" : "";
        context.Out.WriteLine($"{me.Username}{admin} on {api.Settings.Display}");
        var teams = string.Join(", ", me.Teams ?? []);
        if (teams.Length > 0) context.Out.WriteLine($"teams: {teams}");
        context.Out.WriteLine($"token from: {(api.Settings.TokenSource == "login" ? context.Store.Path : api.Settings.TokenSource)}");
        return ExitCodes.Ok;
    }
}

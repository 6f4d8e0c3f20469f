using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Config;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary><c>feather logout</c>: revokes the login's token on the server (when it can) and deletes the credentials file.</summary>
public static class LogoutCommand
{
    public static readonly Option<bool> KeepToken = new("--keep-token") { Description = "Only delete the local file; leave the token valid on the server" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("logout", "Forget the stored login (and revoke its token on the server)") { KeepToken };
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var stored = context.Store.Load();
        var revoked = false;
        string? warning = null;
        if (stored is { TokenId: { } tokenId } && !parse.GetValue(KeepToken))
        {
            var api = context.CreateApi(new ServerSettings(ServerSettings.ParseUrl(stored.Url, "the stored login"), stored.Token, stored.Username, "login"));
            try
            {
                await api.SendAsync(HttpMethod.Delete, Feather.Contracts.Routes.Expand(Feather.Contracts.Routes.Token, tokenId), null, ct, TimeSpan.FromSeconds(15));
                revoked = true;
            }
            catch (CliException e)
            {
                warning = $"could not revoke the token on {stored.Url} ({e.Message.Split('\n')[0]}); revoke it later with `feather tokens revoke {tokenId}`";
            }
        }
        var deleted = context.Store.Delete();
        if (warning is not null) context.Err.WriteLine($"warning: {warning}");
        if (context.Json)
            JsonOutput.Write(context.Out, new JsonObject { ["loggedOut"] = deleted, ["tokenRevoked"] = revoked, ["url"] = stored?.Url });
        else if (!deleted)
            context.Out.WriteLine("not logged in; nothing to do");
        else
            context.Out.WriteLine($"logged out of {stored!.Url}{(revoked ? " (token revoked)" : "")}");
        return ExitCodes.Ok;
    }
}

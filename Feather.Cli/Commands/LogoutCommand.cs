using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Config;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather logout [--keep-token | --everywhere]</c>: revokes the login's token on the server (when it can)
/// and deletes the credentials file; with --everywhere, first signs the user out everywhere
/// (<c>POST /api/auth/logout-everywhere</c>: every portal session and every token).
/// </summary>
public static class LogoutCommand
{
    public static readonly Option<bool> KeepToken = new("--keep-token") { Description = "Only delete the local file; leave the token valid on the server" };
    public static readonly Option<bool> Everywhere = new("--everywhere")
    {
        Description = "Sign out everywhere: end all your portal sessions and revoke all your tokens (needs the publish scope)",
    };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("logout", "Forget the stored login (and revoke its token on the server)") { KeepToken, Everywhere };
        command.Validators.Add(result =>
        {
            if (result.GetValue(KeepToken) && result.GetValue(Everywhere)) result.AddError("give either --keep-token or --everywhere, not both");
        });
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        if (parse.GetValue(Everywhere)) return await EverywhereAsync(context, ct);
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

    /// <summary>Signs out everywhere with the current credentials; the local file is deleted only when that worked.</summary>
    private static async Task<ExitCodes> EverywhereAsync(CommandContext context, CancellationToken ct)
    {
        var api = context.Api;
        api.RequireLogin();
        var done = await api.PostAsync(Feather.Contracts.Routes.LogoutEverywhere, null, ct);
        var deleted = context.Store.Delete();
        if (context.Json)
        {
            var copy = done?.DeepClone() as JsonObject ?? [];
            copy["loggedOut"] = deleted;
            copy["url"] = api.Settings.Display;
            JsonOutput.Write(context.Out, copy);
        }
        else
        {
            context.Out.WriteLine($"signed {Format.Str(done, "username")} out everywhere on {api.Settings.Display}: " +
                                  $"every portal session ended, {Format.Str(done, "tokensRevoked", "0")} token(s) revoked");
        }
        return ExitCodes.Ok;
    }
}

using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Config;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather login [URL] [--user U --password-stdin | --token T]</c></summary>
public static class LoginCommand
{
    public static readonly Argument<string?> Url = new("URL")
    {
        Description = $"The server, e.g. http://feather.lab:8080 (default: FEATHER_URL, else {ServerSettings.DefaultUrl})",
        Arity = ArgumentArity.ZeroOrOne,
    };
    public static readonly Option<string?> User = new("--user", "-u") { Description = "Your username; the password is exchanged for a token" };
    public static readonly Option<bool> PasswordStdin = new("--password-stdin") { Description = "Read the password from the first line of stdin (for scripts)" };
    public static readonly Option<string?> Token = new("--token") { Description = "An API token created in the portal or with `feather tokens create`" };
    public static readonly Option<string?> TokenName = new("--token-name") { Description = "Name of the token created for this login (default: feather-cli@HOST)" };

    public static readonly string[] Scopes = ["read", "run", "publish"];

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("login", "Log in to a Feather server and store the token in ~/.config/feather/credentials.json (mode 0600)")
        {
            Url, User, PasswordStdin, Token, TokenName,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(Token) is not null && (result.GetValue(User) is not null || result.GetValue(PasswordStdin)))
                result.AddError("give either --token or --user (with --password-stdin), not both");
            if (result.GetValue(PasswordStdin) && result.GetValue(User) is null)
                result.AddError("--password-stdin needs --user");
        });
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var env = context.Env;
        var url = ServerSettings.ParseUrl(parse.GetValue(Url) ?? env.Variable("FEATHER_URL") ?? ServerSettings.DefaultUrl,
            parse.GetValue(Url) is not null ? "the command line" : env.Variable("FEATHER_URL") is not null ? "FEATHER_URL" : "the default");
        var token = parse.GetValue(Token);
        var user = parse.GetValue(User);
        string? tokenId = null;

        if (token is null)
        {
            if (user is null)
            {
                if (!env.InIsTerminal)
                    throw new CliException(ExitCodes.Usage, "no credentials given",
                        "use `feather login URL --token TOKEN`, or `feather login URL --user NAME --password-stdin` with the password on stdin");
                user = Prompt(context, "username: ", echo: true);
            }
            var password = parse.GetValue(PasswordStdin) ? await env.In.ReadLineAsync(ct)
                : env.InIsTerminal ? Prompt(context, "password: ", echo: false)
                : throw new CliException(ExitCodes.Usage, "no password given", "pipe it in with --password-stdin");
            if (string.IsNullOrEmpty(password))
                throw new CliException(ExitCodes.Usage, "the password is empty", "pipe the password into --password-stdin");

            var api = context.CreateApi(new ServerSettings(url, null, null, "none"));
            var body = new CreateTokenRequest(user, password, parse.GetValue(TokenName) ?? $"feather-cli@{Environment.MachineName}", Scopes);
            CreatedToken answer;
            try
            {
                answer = await api.PostAsync<CreatedToken>(Routes.Tokens, body, ct);
            }
            catch (CliException e) when (e.Code is ExitCodes.NotLoggedIn or ExitCodes.ValidationFailed)
            {
                throw new CliException(ExitCodes.NotLoggedIn, $"{url.ToString().TrimEnd('/')} refused the username or password ({e.Message})",
                    "check them and try again; an admin can reset your password") { Problem = e.Problem };
            }
            token = answer.Token ?? "";
            tokenId = answer.Id is { Length: > 0 } id ? id : null;
            if (token.Length == 0) throw new CliException(ExitCodes.Error, "the server's answer to POST /api/auth/tokens has no token");
        }

        var settings = new ServerSettings(url, token, null, "login");
        var me = await context.CreateApi(settings).GetAsync<Me>(Routes.Me, ct);
        var username = me.Username is { Length: > 0 } name ? name : user ?? "";
        var credentials = new Credentials(settings.Display, token, username, tokenId);
        context.Store.Save(credentials);

        if (context.Json)
            JsonOutput.Write(context.Out, new JsonObject
            {
                ["url"] = settings.Display, ["username"] = username, ["tokenId"] = tokenId, ["credentialsFile"] = context.Store.Path,
            });
        else
            context.Out.WriteLine($"logged in to {settings.Display} as {username} (token stored in {context.Store.Path})");
        return ExitCodes.Ok;
    }

    internal static string Prompt(CommandContext context, string label, bool echo)
    {
        context.Err.Write(label);
        if (echo) return Console.ReadLine() ?? "";
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace) { if (text.Length > 0) text.Length--; }
            else if (!char.IsControl(key.KeyChar)) text.Append(key.KeyChar);
        }
        context.Err.WriteLine();
        return text.ToString();
    }
}

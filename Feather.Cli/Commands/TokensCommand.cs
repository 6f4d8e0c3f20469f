using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather tokens create|list|revoke</c> (<c>/api/auth/tokens</c>)</summary>
public static class TokensCommand
{
    public static Command Create(CliEnvironment env) =>
        new("tokens", "Manage your API tokens") { TokensCreateCommand.Create(env), TokensListCommand.Create(env), TokensRevokeCommand.Create(env) };
}

/// <summary><c>feather tokens create NAME [--scope S]...</c> (<c>POST /api/auth/tokens</c>)</summary>
public static class TokensCreateCommand
{
    public static readonly Argument<string> Name = new("NAME") { Description = "What the token is for, e.g. ci-pipeline" };
    public static readonly Option<string[]> Scopes = new("--scope")
    {
        Description = "read, run or publish; repeat for several (default: read run)",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Command Create(CliEnvironment env)
    {
        Scopes.AcceptOnlyFromAmong("read", "run", "publish");
        var command = new Command("create", "Create a token; it is printed once, store it safely") { Name, Scopes };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            context.Api.RequireLogin();
            var scopes = parse.GetValue(Scopes) is { Length: > 0 } given ? given.Distinct().ToArray() : ["read", "run"];
            var answer = await context.Api.SendAsync<CreatedToken>(HttpMethod.Post, Routes.Tokens,
                new CreateTokenRequest(Name: parse.GetValue(Name), Scopes: scopes), ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            var token = answer.Value;
            context.Out.WriteLine($"created token {token.Id} ({token.Name}, scopes: {string.Join(", ", token.Scopes)})");
            context.Out.WriteLine(token.Token);
            context.Err.WriteLine("this is the only time the token is shown; use it as FEATHER_TOKEN or `feather login URL --token ...`");
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather tokens list</c> (<c>GET /api/auth/tokens</c>)</summary>
public static class TokensListCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List your tokens (never their secrets)");
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            context.Api.RequireLogin();
            var answer = await context.Api.SendAsync<TokenInfo[]>(HttpMethod.Get, Routes.Tokens, null, ct);
            if (context.Json) JsonOutput.Write(context.Out, answer.Body);
            else if (answer.Value.Length == 0) context.Out.WriteLine("no tokens");
            else Table.Write(context.Out, ["ID", "NAME", "SCOPES", "CREATED", "LAST USED"], answer.Value.Select(t => (IReadOnlyList<string>)
                [t.Id, t.Name, string.Join(", ", t.Scopes), Format.Time(t.CreatedAt), Format.Time(t.LastUsedAt) is { Length: > 0 } u ? u : "never"]));
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather tokens revoke ID</c> (<c>DELETE /api/auth/tokens/{id}</c>)</summary>
public static class TokensRevokeCommand
{
    public static readonly Argument<string> Id = new("ID") { Description = "The token's id from `feather tokens list`" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("revoke", "Revoke a token; clients using it get 401 from then on") { Id };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            context.Api.RequireLogin();
            var id = parse.GetValue(Id)!;
            await context.Api.DeleteAsync(Routes.Expand(Routes.Token, id), ct);
            if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["revoked"] = id });
            else context.Out.WriteLine($"revoked token {id}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

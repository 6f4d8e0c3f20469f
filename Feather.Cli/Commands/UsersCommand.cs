using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary><c>feather users list|disable|enable</c> (<c>/api/users</c>; an admin token with the admin scope).</summary>
public static class UsersCommand
{
    public static readonly Argument<string> Name = new("NAME") { Description = "The user's name" };

    public static Command Create(CliEnvironment env) =>
        new("users", "Manage user accounts (admins)") { List(env), SetDisabled(env, disable: true), SetDisabled(env, disable: false) };

    private static Command List(CliEnvironment env)
    {
        var command = new Command("list", "List the users");
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            context.Api.RequireLogin();
            var users = await context.Api.GetAsync(Feather.Contracts.Routes.Users, ct) as JsonArray ?? [];
            if (context.Json) JsonOutput.Write(context.Out, users);
            else Table.Write(context.Out, ["USER", "ADMIN", "STATUS", "CREATED"], users.Select(u => (IReadOnlyList<string>)
                [Format.Str(u, "username"), u?["isAdmin"]?.GetValue<bool>() == true ? "yes" : "no",
                 u?["disabled"]?.GetValue<bool>() == true ? "disabled" : "active", Format.Time(u, "createdAt")]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command SetDisabled(CliEnvironment env, bool disable)
    {
        var command = disable
            ? new Command("disable", "Disable a user: they cannot sign in, and their tokens and portal sessions stop working at once") { Name }
            : new Command("enable", "Enable a disabled user again (their tokens work again; ended sessions stay ended)") { Name };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            context.Api.RequireLogin();
            var name = parse.GetValue(Name)!;
            var user = await context.Api.PostAsync(Feather.Contracts.Routes.Expand(disable ? Feather.Contracts.Routes.DisableUser : Feather.Contracts.Routes.EnableUser, name), null, ct);
            if (context.Json) JsonOutput.Write(context.Out, user);
            else context.Out.WriteLine($"{(disable ? "disabled" : "enabled")} user {Format.Str(user, "username", name)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;

namespace Feather.Cli.Commands;

/// <summary><c>feather models list|show</c></summary>
public static class ModelsCommand
{
    public static Command Create(CliEnvironment env) =>
        new("models", "Browse the models on the server") { ModelsListCommand.Create(env), ModelsShowCommand.Create(env) };
}

/// <summary><c>feather models list</c> (<c>GET /api/models</c>)</summary>
public static class ModelsListCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List the models you can see");
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var models = await context.Api.GetAsync("api/models", ct) as JsonArray ?? [];
            if (context.Json) { JsonOutput.Write(context.Out, models); return ExitCodes.Ok; }
            if (models.Count == 0) { context.Out.WriteLine("no models yet; publish one with `feather publish DIR`"); return ExitCodes.Ok; }
            Table.Write(context.Out, ["MODEL", "LIVE", "VISIBILITY", "DESCRIPTION"], models.Select(m => (IReadOnlyList<string>)
                [$"{Format.Str(m, "owner")}/{Format.Str(m, "name")}", Format.Str(m, "liveVersion", "-"), Format.Str(m, "visibility"), Format.Str(m, "description")]));
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather models show OWNER/MODEL</c> (<c>GET /api/models/{owner}/{model}</c>)</summary>
public static class ModelsShowCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("show", "Show a model: its versions and the live version's steps") { Model };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(Model)!, allowVersion: false);
            var m = await context.Api.GetAsync(model.ApiPath, ct);
            if (context.Json) { JsonOutput.Write(context.Out, m); return ExitCodes.Ok; }
            var o = context.Out;
            o.WriteLine($"{Format.Str(m, "owner", model.Owner)}/{Format.Str(m, "name", model.Model)}");
            if (Format.Str(m, "description") is { Length: > 0 } description) o.WriteLine($"  {description}");
            o.WriteLine($"  live version: {Format.Str(m, "liveVersion", "-")}   visibility: {Format.Str(m, "visibility")}");
            if (Format.Tags(m?["tags"]) is { Length: > 0 } tags) o.WriteLine($"  tags: {tags}");
            var metadata = m?["metadata"];
            foreach (var (step, i) in (metadata?["steps"] as JsonArray ?? []).Select((s, i) => (s, i)))
            {
                o.WriteLine($"  step {i} {Format.Str(step, "name")}{(Format.Str(step, "title") is { Length: > 0 } t ? $" ({t})" : "")}");
                o.WriteLine($"    inputs:  {Components(step?["inputs"])}");
                o.WriteLine($"    outputs: {Components(step?["outputs"])}");
            }
            if (m?["versions"] is JsonArray { Count: > 0 } versions)
            {
                o.WriteLine();
                VersionsListCommand.WriteTable(o, versions, Format.Str(m, "liveVersion"));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Components(JsonNode? list) =>
        list is JsonArray { Count: > 0 } items ? string.Join(", ", items.Select(c => $"{Format.Str(c, "name")} ({Format.Str(c, "component")})")) : "-";
}

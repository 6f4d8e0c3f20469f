using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

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
            var answer = await context.Api.SendAsync<ModelSummary[]>(HttpMethod.Get, Routes.Models, null, ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            var models = answer.Value;
            if (models.Length == 0) { context.Out.WriteLine("no models yet; publish one with `feather publish DIR`"); return ExitCodes.Ok; }
            Table.Write(context.Out, ["MODEL", "LIVE", "VISIBILITY", "DESCRIPTION"], models.Select(m => (IReadOnlyList<string>)
                [$"{m.Owner}/{m.Name}", Format.Number(m.LiveVersion, "-"), m.Visibility, m.Description]));
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
            var answer = await context.Api.SendAsync<ModelDetail>(HttpMethod.Get, model.ApiPath, null, ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            var m = answer.Value;
            var o = context.Out;
            o.WriteLine($"{m.Owner}/{m.Name}");
            if (m.Description is { Length: > 0 } description) o.WriteLine($"  {description}");
            o.WriteLine($"  live version: {Format.Number(m.LiveVersion, "-")}   visibility: {m.Visibility}");
            if (Format.Tags(m.Tags) is { Length: > 0 } tags) o.WriteLine($"  tags: {tags}");
            var metadata = m.Metadata.AsNode();
            foreach (var (step, i) in (metadata?["steps"] as JsonArray ?? []).Select((s, i) => (s, i)))
            {
                o.WriteLine($"  step {i} {Format.Str(step, "name")}{(Format.Str(step, "title") is { Length: > 0 } t ? $" ({t})" : "")}");
                o.WriteLine($"    inputs:  {Components(step?["inputs"])}");
                o.WriteLine($"    outputs: {Components(step?["outputs"])}");
            }
            if (m.Versions is { Length: > 0 } versions)
            {
                o.WriteLine();
                VersionsListCommand.WriteTable(o, versions, m.LiveVersion);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Components(JsonNode? list) =>
        list is JsonArray { Count: > 0 } items ? string.Join(", ", items.Select(c => $"{Format.Str(c, "name")} ({Format.Str(c, "component")})")) : "-";
}

using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather versions list|promote|rollback|tag</c></summary>
public static class VersionsCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL" };
    public static readonly Argument<int> Number = new("VERSION") { Description = "The version number" };

    public static Command Create(CliEnvironment env) =>
        new("versions", "List a model's versions, choose the live one, tag them")
        {
            VersionsListCommand.Create(env), VersionsPromoteCommand.Create(env), VersionsRollbackCommand.Create(env), VersionsTagCommand.Create(env),
        };

    /// <summary>Prints the answer of a live-version change: the model, with its new <c>liveVersion</c>.</summary>
    public static void WriteLive(CommandContext context, Answer<ModelDetail> answer, ModelRef model, string verb)
    {
        if (context.Json) JsonOutput.Write(context.Out, answer.Body);
        else context.Out.WriteLine($"{verb}: {model} now serves version {Format.Number(answer.Value.LiveVersion, "?")}");
    }
}

/// <summary><c>feather versions list OWNER/MODEL</c> (<c>GET /api/models/{o}/{m}/versions</c>)</summary>
public static class VersionsListCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List a model's versions, newest first") { VersionsCommand.Model };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(VersionsCommand.Model)!, allowVersion: false);
            var answer = await context.Api.SendAsync<VersionSummary[]>(HttpMethod.Get, Routes.Expand(Routes.Versions, model.Owner, model.Model), null, ct);
            if (context.Json) JsonOutput.Write(context.Out, answer.Body);
            else if (answer.Value.Length == 0) context.Out.WriteLine($"{model} has no versions");
            else WriteTable(context.Out, answer.Value, null);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static void WriteTable(TextWriter writer, IEnumerable<VersionSummary> versions, int? liveVersion)
    {
        var list = versions.ToList();
        var lineage = list.Any(v => v.Lineage is not null);
        string[] headers = lineage ? ["VERSION", "LIVE", "CREATED", "IMAGE", "TAGS", "FINE-TUNED FROM", "NOTES"] : ["VERSION", "LIVE", "CREATED", "IMAGE", "TAGS", "NOTES"];
        Table.Write(writer, headers, list.Select(v =>
        {
            var row = new List<string>
            {
                Format.Number(v.Number),
                v.Live || v.Number == liveVersion ? "*" : "",
                Format.Time(v.CreatedAt),
                v.Preparation == "failed" ? $"{v.ImageStatus}, preparation failed: {v.PreparationMessage}" : v.ImageStatus,
                string.Join(", ", v.Tags),
            };
            if (lineage) row.Add(v.Lineage is { } l ? Lineage(l) : "");
            row.Add(v.Notes ?? "");
            return (IReadOnlyList<string>)row;
        }));
    }

    /// <summary>"admin/image-classifier@1 on admin/digits-train@1 (epochs=3, lr=0.5)".</summary>
    public static string Lineage(VersionLineage l) =>
        $"{l.BaseModel}@{l.BaseVersion} on {l.Dataset}@{l.DatasetVersion}" +
        (l.Params.ValueKind == System.Text.Json.JsonValueKind.Object && l.Params.EnumerateObject().Any()
            ? " (" + string.Join(", ", l.Params.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetRawText()}")) + ")" : "");
}

/// <summary><c>feather versions promote OWNER/MODEL N</c> (<c>POST .../live</c> with <c>{"version": n}</c>)</summary>
public static class VersionsPromoteCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("promote", "Make version N the live version") { VersionsCommand.Model, VersionsCommand.Number };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(VersionsCommand.Model)!, allowVersion: false);
            context.Api.RequireLogin();
            var answer = await context.Api.SendAsync<ModelDetail>(HttpMethod.Post, Routes.Expand(Routes.Live, model.Owner, model.Model),
                new VersionChoice(parse.GetValue(VersionsCommand.Number).ToString(System.Globalization.CultureInfo.InvariantCulture)), ct);
            VersionsCommand.WriteLive(context, answer, model, "promoted");
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather versions rollback OWNER/MODEL</c> (<c>POST /api/models/{o}/{m}/rollback</c>)</summary>
public static class VersionsRollbackCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("rollback", "Make the previously live version live again") { VersionsCommand.Model };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(VersionsCommand.Model)!, allowVersion: false);
            context.Api.RequireLogin();
            var answer = await context.Api.SendAsync<ModelDetail>(HttpMethod.Post, Routes.Expand(Routes.Rollback, model.Owner, model.Model), null, ct);
            VersionsCommand.WriteLive(context, answer, model, "rolled back");
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather versions tag OWNER/MODEL N TAG</c> (<c>PUT /api/models/{o}/{m}/tags/{tag}</c> with <c>{"version": n}</c>)</summary>
public static class VersionsTagCommand
{
    public static readonly Argument<string> Tag = new("TAG") { Description = "A name such as stable or paper-v1 (moves the tag if it exists)" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("tag", "Point TAG at version N; run it with `feather run OWNER/MODEL@TAG`") { VersionsCommand.Model, VersionsCommand.Number, Tag };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(VersionsCommand.Model)!, allowVersion: false);
            var tag = parse.GetValue(Tag)!;
            if (!System.Text.RegularExpressions.Regex.IsMatch(tag, "^[A-Za-z][A-Za-z0-9._-]{0,62}$"))
                throw new CliException(ExitCodes.Usage, $"'{tag}' is not a valid tag", "a tag starts with a letter and holds letters, digits, '.', '_' or '-' (a number would be confused with a version)");
            context.Api.RequireLogin();
            var number = parse.GetValue(VersionsCommand.Number);
            var answer = await context.Api.SendAsync<ModelDetail>(HttpMethod.Put, Routes.Expand(Routes.Tag, model.Owner, model.Model, tag),
                new VersionChoice(number.ToString(System.Globalization.CultureInfo.InvariantCulture)), ct);
            if (context.Json) JsonOutput.Write(context.Out, answer.Body);
            else context.Out.WriteLine($"tagged {model} version {number} as {tag}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

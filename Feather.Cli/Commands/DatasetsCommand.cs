using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Feather.Cli.Output;
using Feather.Cli.Publishing;
using Feather.Contracts;
using Feather.Datasets;

namespace Feather.Cli.Commands;

/// <summary><c>feather datasets publish|list|show</c> (docs/datasets.md)</summary>
public static class DatasetsCommand
{
    public static Command Create(CliEnvironment env) =>
        new("datasets", "Publish and browse datasets")
        {
            DatasetsPublishCommand.Create(env), DatasetsListCommand.Create(env), DatasetsShowCommand.Create(env),
        };
}

/// <summary>
/// <c>feather datasets publish DIR</c>: reads DIR/dataset.json, checks it and every record (the same checks the
/// server makes), hashes the records file and the files records point at, then publishes them with the models'
/// protocol (start → upload what the server lacks → complete).
/// </summary>
public static class DatasetsPublishCommand
{
    public static readonly Argument<string> Directory = new("DIR")
    {
        Description = "The dataset directory (holding dataset.json)",
        DefaultValueFactory = _ => ".",
    };
    public static readonly Option<string?> Visibility = new("--visibility") { Description = "Who can see the dataset: private (default for a new one), unlisted or public" };
    public static readonly Option<string?> Owner = new("--owner") { Description = "Publish under this team (default: you)" };
    public static readonly Option<string?> Notes = new("--notes") { Description = "Notes for this version" };
    public static readonly Option<bool> DryRun = new("--dry-run") { Description = "Check and hash, show what would be uploaded, upload nothing" };

    public static Command Create(CliEnvironment env)
    {
        Visibility.AcceptOnlyFromAmong("private", "unlisted", "public");
        var command = new Command("publish", "Publish the dataset in DIR as a new version") { Directory, Visibility, Owner, Notes, DryRun };
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var given = parse.GetValue(Directory)!;
        var root = Path.GetFullPath(given);
        if (!System.IO.Directory.Exists(root))
            throw new CliException(ExitCodes.Usage, $"{given} is not a directory", $"give the directory that holds {DatasetManifest.FileName}");
        var api = context.Api;
        if (!parse.GetValue(DryRun)) api.RequireLogin();

        var (manifest, manifestJson) = ReadManifest(root, given);
        var recordsFull = Path.Combine(root, manifest.Records);
        context.Info.WriteLine($"checking {manifest.Records} ...");
        RecordScan scan;
        await using (var records = File.OpenRead(recordsFull))
            scan = await DatasetRecords.ScanAsync(records, manifest, path => LocalProblem(root, path), examples: 0, maxProblems: 20, collectFiles: true, ct);
        if (scan.ProblemCount > 0)
            throw new CliException(ExitCodes.ValidationFailed,
                $"{manifest.Records} has {scan.ProblemCount} problem(s):\n" + string.Join("\n", scan.Problems.Select(p => $"  {manifest.Records} {p}")),
                "fix the records (or the fields in dataset.json) and publish again");

        var files = new List<BundleFile>();
        foreach (var (path, kind) in scan.Files.Order(StringComparer.Ordinal).Select(p => (p, "file")).Prepend((manifest.Records, "records")))
        {
            var full = Path.Combine(root, path);
            var (sha256, size) = await BundleManifest.HashAsync(full, ct);
            files.Add(new BundleFile(path, size, sha256, kind) { FullPath = full });
        }
        context.Info.WriteLine($"dataset {manifest.Name}: {scan.Count} record(s), {files.Count} file(s), {Format.Bytes(files.Sum(f => f.Size))}");

        if (parse.GetValue(DryRun))
        {
            if (context.Json)
                JsonOutput.Write(context.Out, new JsonObject
                {
                    ["dryRun"] = true, ["manifest"] = JsonNode.Parse(manifestJson.GetRawText()), ["records"] = scan.Count,
                    ["files"] = JsonSerializer.SerializeToNode(files, Json.Options),
                });
            else context.Out.WriteLine("dry run: nothing uploaded");
            return ExitCodes.Ok;
        }

        var start = new JsonObject
        {
            ["owner"] = parse.GetValue(Owner), ["manifest"] = JsonNode.Parse(manifestJson.GetRawText()),
            ["files"] = JsonSerializer.SerializeToNode(files, Json.Options), ["notes"] = parse.GetValue(Notes),
            ["visibility"] = parse.GetValue(Visibility),
        };
        var started = await api.SendAsync<DatasetPublishStarted>(HttpMethod.Post, Routes.DatasetPublish, start, ct);
        var skipped = started.Value.AlreadyStored;
        var uploader = new Uploader(api.Http, context.Err, context.Env.ErrIsTerminal && !context.Json);
        var byPath = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var uploaded = new JsonArray();
        foreach (var upload in started.Value.Uploads)
        {
            if (!byPath.TryGetValue(upload.Path, out var file))
                throw new CliException(ExitCodes.Error, $"the server asked for '{upload.Path}', which is not in the dataset");
            await uploader.UploadAsync(file, api.Resolve(upload.Url), ct);
            uploaded.Add(upload.Path);
        }
        var completed = await api.SendAsync<DatasetPublishCompleted>(HttpMethod.Post,
            Routes.Expand(Routes.DatasetPublishComplete, started.Value.PublishId), null, ct);
        var done = completed.Value;

        if (context.Json)
        {
            var result = completed.Body!.DeepClone().AsObject();
            result["uploaded"] = uploaded;
            result["alreadyStored"] = new JsonArray(skipped.Select(s => (JsonNode)s!).ToArray());
            JsonOutput.Write(context.Out, result);
            return ExitCodes.Ok;
        }
        context.Out.WriteLine($"published dataset {done.Owner}/{done.Dataset} version {done.Version}: {done.RecordCount} record(s)");
        context.Out.WriteLine($"  url:   {api.Resolve(done.Url)}");
        context.Out.WriteLine($"  {uploaded.Count} file(s) uploaded, {skipped.Length} already stored");
        return ExitCodes.Ok;
    }

    /// <summary>The manifest of <paramref name="root"/>, checked with the same schema and rules as the server's.</summary>
    public static (DatasetManifest Manifest, JsonElement Json) ReadManifest(string root, string given)
    {
        var path = Path.Combine(root, DatasetManifest.FileName);
        if (!File.Exists(path))
            throw new CliException(ExitCodes.ValidationFailed, $"{given} has no {DatasetManifest.FileName}", "docs/datasets.md describes the format");
        JsonElement json;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            json = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.ValidationFailed, $"{DatasetManifest.FileName} is not valid JSON: {e.Message}");
        }
        var (manifest, errors) = DatasetManifest.Parse(json, relative => LocalProblem(root, relative));
        if (manifest is null)
            throw new CliException(ExitCodes.ValidationFailed,
                $"{DatasetManifest.FileName} is not valid:\n" + string.Join("\n", errors.SelectMany(e => e.Value.Select(m => $"  {e.Key}: {m}"))),
                "docs/datasets.md describes the format");
        return (manifest, json);
    }

    /// <summary>Null when <paramref name="relative"/> names a file inside the dataset directory, else why not.</summary>
    public static string? LocalProblem(string root, string relative)
    {
        if (relative.Contains('\\')) return "use '/' between folders";
        if (Path.IsPathRooted(relative) || relative.StartsWith('~')) return "the path is absolute; give it relative to the dataset directory";
        var rootFull = Path.TrimEndingDirectorySeparator(root);
        var full = Path.GetFullPath(Path.Combine(rootFull, relative));
        if (!full.StartsWith(rootFull + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return "the path leads out of the dataset directory";
        if (Path.GetRelativePath(rootFull, full).Replace(Path.DirectorySeparatorChar, '/') != relative)
            return "write the path plainly (no '.', '..' or '//' segments)";
        try { BundlePaths.Resolve(rootFull, relative); }
        catch (CliException) { return "a symbolic link on the path leads out of the dataset directory"; }
        return File.Exists(full) ? null : System.IO.Directory.Exists(full) ? "is a directory, not a file" : "no such file in the dataset directory";
    }
}

/// <summary><c>feather datasets list [--task TASK]</c> (<c>GET /api/datasets</c>)</summary>
public static class DatasetsListCommand
{
    public static readonly Option<string?> Task = new("--task") { Description = "Only datasets of this task, e.g. image-classification" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List the datasets you can see") { Task };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var answer = await context.Api.SendAsync<DatasetSummary[]>(HttpMethod.Get,
                Routes.WithQuery(Routes.Datasets, ("task", parse.GetValue(Task))), null, ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            if (answer.Value.Length == 0) { context.Out.WriteLine("no datasets; publish one with `feather datasets publish DIR`"); return ExitCodes.Ok; }
            Table.Write(context.Out, ["DATASET", "TASK", "SPLIT", "VERSION", "RECORDS", "VISIBILITY", "TITLE"], answer.Value.Select(d => (IReadOnlyList<string>)
                [$"{d.Owner}/{d.Name}", d.Task, d.Split, d.LatestVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 d.RecordCount.ToString(System.Globalization.CultureInfo.InvariantCulture), d.Visibility, TerminalText.Safe(d.Title ?? d.Description)]));
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather datasets show OWNER/NAME[@N]</c> (<c>GET /api/datasets/{owner}/{name}</c> or one version)</summary>
public static partial class DatasetsShowCommand
{
    public static readonly Argument<string> Dataset = new("DATASET") { Description = "OWNER/NAME, or OWNER/NAME@N for version N" };

    [GeneratedRegex("^(?<owner>[A-Za-z0-9][A-Za-z0-9._-]{0,62})/(?<name>[a-z0-9][a-z0-9-]{0,62})(@(?<version>[0-9]{1,9}))?$")]
    private static partial Regex Reference();

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("show", "Show a dataset: what it is, its fields, versions and a few records") { Dataset };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var text = parse.GetValue(Dataset)!;
            var match = Reference().Match(text);
            if (!match.Success) throw new CliException(ExitCodes.Usage, $"'{text}' is not a dataset reference", "write OWNER/NAME or OWNER/NAME@3");
            var (owner, name) = (match.Groups["owner"].Value, match.Groups["name"].Value);
            var o = context.Out;
            if (match.Groups["version"].Success)
            {
                var version = await context.Api.SendAsync<DatasetVersionDetail>(HttpMethod.Get,
                    Routes.Expand(Routes.DatasetVersion, owner, name, match.Groups["version"].Value), null, ct);
                if (context.Json) { JsonOutput.Write(context.Out, version.Body); return ExitCodes.Ok; }
                var v = version.Value;
                o.WriteLine($"{v.Owner}/{v.Dataset} version {v.Number}{(v.Title is { } t ? $": {TerminalText.Safe(t)}" : "")}");
                o.WriteLine($"  task: {v.Task}   records: {v.RecordCount} ({v.Records})   published {Format.Time(v.CreatedAt)} by {v.Publisher}");
                WriteFieldsAndExamples(o, v.Fields, v.Examples);
                o.WriteLine();
                Table.Write(o, ["FILE", "KIND", "SIZE"], v.Files.Take(20).Select(f => (IReadOnlyList<string>)[TerminalText.Safe(f.Path), f.Kind, Format.Bytes(f.Size)]));
                if (v.Files.Length > 20) o.WriteLine($"... and {v.Files.Length - 20} more file(s)");
                return ExitCodes.Ok;
            }
            var answer = await context.Api.SendAsync<DatasetDetail>(HttpMethod.Get, Routes.Expand(Routes.Dataset, owner, name), null, ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            var d = answer.Value;
            o.WriteLine($"{d.Owner}/{d.Name}{(d.Title is { } title ? $": {TerminalText.Safe(title)}" : "")}");
            if (d.Description.Length > 0) o.WriteLine($"  {TerminalText.Safe(d.Description)}");
            o.WriteLine($"  task: {d.Task}   split: {d.Split}   records: {d.RecordCount}   latest version: {d.LatestVersion}   visibility: {d.Visibility}");
            if (d.Licence is { Length: > 0 } licence) o.WriteLine($"  licence: {TerminalText.Safe(licence)}");
            if (d.Citation is { Length: > 0 } citation) o.WriteLine($"  citation: {TerminalText.Safe(citation)}");
            WriteFieldsAndExamples(o, d.Fields, d.Examples);
            o.WriteLine();
            Table.Write(o, ["VERSION", "PUBLISHED", "BY", "RECORDS", "NOTES"], d.Versions.Select(v => (IReadOnlyList<string>)
                [v.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), Format.Time(v.CreatedAt), v.Publisher,
                 v.RecordCount.ToString(System.Globalization.CultureInfo.InvariantCulture), TerminalText.Safe(v.Notes ?? "")]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void WriteFieldsAndExamples(TextWriter o, DatasetFieldInfo[] fields, JsonElement[] examples)
    {
        o.WriteLine();
        Table.Write(o, ["FIELD", "TYPE", "ROLE", "CLASSES"], fields.Select(f => (IReadOnlyList<string>)
            [f.Name, f.Type, f.Role == "label" ? "label (hidden from models)" : f.Role, TerminalText.Safe(string.Join(", ", f.Classes ?? []))]));
        if (examples.Length == 0) return;
        o.WriteLine();
        Table.Write(o, [.. fields.Select(f => f.Name.ToUpperInvariant())], examples.Select(e => (IReadOnlyList<string>)
            [.. fields.Select(f => e.TryGetProperty(f.Name, out var value) ? Cell(value) : "")]));
    }

    private static string Cell(JsonElement value)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        text = TerminalText.Safe(text.ReplaceLineEndings(" "));
        return text.Length <= 40 ? text : text[..37] + "...";
    }
}

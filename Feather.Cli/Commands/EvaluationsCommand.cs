using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather evaluations list|show</c>: a model's evaluations, and one evaluation with its wrong records (docs/cli.md).</summary>
public static class EvaluationsCommand
{
    public static Command Create(CliEnvironment env) =>
        new("evaluations", "List a model's evaluations and show one (metrics, log, the records it got wrong)")
        {
            EvaluationsListCommand.Create(env), EvaluationsShowCommand.Create(env),
        };
}

/// <summary><c>feather evaluations list OWNER/MODEL[@VERSION]</c> (<c>GET /api/models/{owner}/{model}/evaluations</c>), newest first.</summary>
public static class EvaluationsListCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL, or OWNER/MODEL@N for the evaluations of version N" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List a model's evaluations you can see, newest first") { Model };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(Model)!);
            int? version = null;
            if (model.Version is { } v)
            {
                if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    throw new CliException(ExitCodes.Usage, $"'{v}' is not a version number", "write OWNER/MODEL@3 (tags are not accepted here)");
                version = n;
            }
            var answer = await context.Api.SendAsync<EvaluationView[]>(HttpMethod.Get,
                Routes.Expand(Routes.ModelEvaluations, model.Owner, model.Model), null, ct);
            var selected = answer.Value.Where(e => version is null || e.ModelVersion == version).ToArray();
            if (context.Json)
            {
                JsonOutput.Write(context.Out, version is null ? answer.Body : JsonSerializer.SerializeToNode(selected, ContractJson.Options));
                return ExitCodes.Ok;
            }
            if (selected.Length == 0)
            {
                context.Out.WriteLine($"no evaluations of {model} on a dataset you can see; start one with `feather evaluate {model.Owner}/{model.Model} --dataset OWNER/NAME`");
                return ExitCodes.Ok;
            }
            Table.Write(context.Out, ["EVALUATION", "VERSION", "DATASET", "STATUS", "RECORDS", "SCORE", "TRIGGER", "CREATED"], selected.Select(e => (IReadOnlyList<string>)
            [
                e.Id, e.ModelVersion.ToString(CultureInfo.InvariantCulture), $"{e.DatasetOwner}/{e.Dataset}@{e.DatasetVersion}", e.Status,
                $"{e.RecordsDone}/{e.RecordCount}",
                e.Score is { } s ? $"{e.PrimaryMetric} {s.ToString("F4", CultureInfo.InvariantCulture)}" : "-",
                e.Trigger, Format.Time(e.CreatedAt),
            ]));
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>
/// <c>feather evaluations show ID [--wrong] [--log]</c> (<c>GET /api/evaluations/{id}</c>; with <c>--wrong</c>, every page of
/// <c>GET /api/evaluations/{id}/records?wrong=true</c>: the records the model got wrong, for whoever can change the model).
/// </summary>
public static class EvaluationsShowCommand
{
    public static readonly Argument<string> Id = new("ID") { Description = "The evaluation's id (ev-…), as `feather evaluations list` shows it" };
    public static readonly Option<bool> Wrong = new("--wrong") { Description = "Also list the records the model got wrong: inputs, label, prediction (the model's owners only)" };
    public static readonly Option<bool> Log = new("--log") { Description = "Also print the evaluation's log (its containers' stderr)" };

    private const int PageSize = 10_000;

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("show", "Show an evaluation: status, progress, metrics, per-class recall; with --wrong the records it got wrong") { Id, Wrong, Log };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var id = parse.GetValue(Id)!;
            if (id.Length == 0 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '-')))
                throw new CliException(ExitCodes.Usage, $"'{id}' is not an evaluation id", "the ids look like ev-1a2b3c4d; `feather evaluations list OWNER/MODEL` shows them");
            var detail = await context.Api.SendAsync<EvaluationDetail>(HttpMethod.Get, Routes.Expand(Routes.Evaluation, id), null, ct);
            EvaluationRecordsPage? wrong = null;
            if (parse.GetValue(Wrong)) wrong = await WrongRecordsAsync(context.Api, id, ct);
            if (context.Json)
            {
                var body = detail.Body?.DeepClone() ?? new JsonObject();
                if (wrong is not null) body["wrongRecords"] = JsonSerializer.SerializeToNode(wrong, ContractJson.Options);
                JsonOutput.Write(context.Out, body);
                return ExitCodes.Ok;
            }
            var o = context.Out;
            var d = detail.Value;
            var e = d.Evaluation;
            o.WriteLine($"evaluation {e.Id}: {e.Status}, {e.RecordsDone}/{e.RecordCount} records, {e.Trigger}, created {Format.Time(e.CreatedAt)}");
            EvaluateCommand.WriteResult(o, d);
            if (d.LabelField is { } label) o.WriteLine($"scored on the label field '{TerminalText.Safe(label)}'");
            if (e.Error is { } error) o.WriteLine($"error: {TerminalText.Safe(error)}");
            if (parse.GetValue(Log))
            {
                o.WriteLine("log:");
                o.WriteLine(d.Logs.Length == 0 ? "  (empty)" : TerminalText.Safe(d.Logs.TrimEnd()));
            }
            if (wrong is not null) WriteWrong(o, wrong);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Every page of the wrong records, as one page.</summary>
    private static async Task<EvaluationRecordsPage> WrongRecordsAsync(FeatherApi api, string id, CancellationToken ct)
    {
        var records = new List<EvaluationRecordView>();
        EvaluationRecordsPage page;
        do
        {
            page = (await api.SendAsync<EvaluationRecordsPage>(HttpMethod.Get,
                Routes.WithQuery(Routes.Expand(Routes.EvaluationRecords, id), ("wrong", "true"), ("offset", records.Count), ("limit", PageSize)), null, ct)).Value;
            records.AddRange(page.Records);
        } while (page.Records.Length > 0 && records.Count < page.Total);
        return page with { Offset = 0, Records = [.. records] };
    }

    private static void WriteWrong(TextWriter o, EvaluationRecordsPage page)
    {
        o.WriteLine();
        o.WriteLine($"{page.Total} wrong record(s){(page.Truncated ? " among the first records the server keeps" : "")}:");
        if (page.Records.Length == 0) return;
        var fields = page.InputFields ?? [];
        Table.Write(o, ["RECORD", .. fields.Select(f => f.Name.ToUpperInvariant()), "LABEL", "PREDICTION"], page.Records.Select(r => (IReadOnlyList<string>)
        [
            r.Index.ToString(CultureInfo.InvariantCulture),
            .. fields.Select(f => r.Inputs is { ValueKind: JsonValueKind.Object } inputs && inputs.TryGetProperty(f.Name, out var value) ? Short(value) : "-"),
            Short(r.Label), Short(r.Prediction),
        ]));
    }

    private static string Short(JsonElement value)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        return text.Length <= 60 ? text : text[..59] + "…";
    }
}

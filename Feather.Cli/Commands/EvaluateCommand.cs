using System.CommandLine;
using System.Globalization;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather evaluate OWNER/MODEL --dataset OWNER/NAME [--version V] [--dataset-version N] [--wait]</c>
/// (<c>POST /api/evaluations</c>, then <c>GET /api/evaluations/{id}</c> until it ends).
/// </summary>
public static class EvaluateCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL (or OWNER/MODEL@VERSION)" };
    public static readonly Option<string> Dataset = new("--dataset", "-d") { Description = "The dataset: OWNER/NAME", Required = true };
    public static readonly Option<string?> Version = new("--version") { Description = "A version number or tag of the model (default: the live version)" };
    public static readonly Option<int?> DatasetVersion = new("--dataset-version") { Description = "The dataset version (default: the latest)" };
    public static readonly Option<bool> Wait = new("--wait", "-w") { Description = "Wait for the result and print its metrics" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("evaluate", "Score a model on a dataset on the server (the labels stay on the server)")
        {
            Model, Dataset, Version, DatasetVersion, Wait,
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(Model)!);
            var dataset = parse.GetValue(Dataset)!;
            if (dataset.Split('/') is not [{ Length: > 0 }, { Length: > 0 }])
                throw new CliException(ExitCodes.Usage, $"'{dataset}' is not a dataset reference", "give it as OWNER/NAME, e.g. admin/digits-heldout");
            context.Api.RequireLogin();
            var request = new StartEvaluationRequest($"{model.Owner}/{model.Model}", dataset, parse.GetValue(Version) ?? model.Version,
                parse.GetValue(DatasetVersion));
            var started = await context.Api.SendAsync<EvaluationView>(HttpMethod.Post, Routes.Evaluations, request, ct);
            var view = started.Value;
            if (!parse.GetValue(Wait))
            {
                if (context.Json) JsonOutput.Write(context.Out, started.Body);
                else context.Out.WriteLine($"evaluation {view.Id} {view.Status}: {Describe(view)}");
                return ExitCodes.Ok;
            }
            context.Info.WriteLine($"evaluation {view.Id}: {Describe(view)}");
            var path = Routes.Expand(Routes.Evaluation, view.Id);
            var last = -1L;
            while (true)
            {
                var answer = await context.Api.SendAsync<EvaluationDetail>(HttpMethod.Get, path, null, ct);
                var e = answer.Value.Evaluation;
                if (e.RecordsDone != last && !context.Json)
                {
                    context.Info.WriteLine($"  {e.Status}: {e.RecordsDone}/{e.RecordCount} records");
                    last = e.RecordsDone;
                }
                if (EvaluationStatus.IsTerminal(e.Status))
                {
                    if (context.Json) JsonOutput.Write(context.Out, answer.Body);
                    else WriteResult(context.Out, answer.Value);
                    if (e.Status == EvaluationStatus.Succeeded) return ExitCodes.Ok;
                    if (!context.Json) context.Env.Err.WriteLine($"evaluation {e.Status}: {e.Error}");
                    return ExitCodes.EvaluationFailed;
                }
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        });
        return command;
    }

    private static string Describe(EvaluationView e) =>
        $"{e.ModelOwner}/{e.Model} version {e.ModelVersion} on {e.DatasetOwner}/{e.Dataset} version {e.DatasetVersion} ({e.Task}, {e.RecordCount} records)";

    public static void WriteResult(TextWriter writer, EvaluationDetail detail)
    {
        var e = detail.Evaluation;
        writer.WriteLine($"{Describe(e)}: {e.Status}" + (e.Seconds is { } s ? $" in {s.ToString("F1", CultureInfo.InvariantCulture)} s" : ""));
        var task = EvaluationTasks.Find(e.Task);
        if (e.Metrics.Count > 0)
            Table.Write(writer, ["METRIC", "VALUE", "BETTER"], e.Metrics.Select(m => (IReadOnlyList<string>)
            [
                m.Key + (m.Key == e.PrimaryMetric ? " (primary)" : ""),
                m.Value.ToString("F4", CultureInfo.InvariantCulture),
                task?.Metric(m.Key) is { } info ? (info.HigherIsBetter ? "higher" : "lower") : "",
            ]));
        if (detail.PerClassRecall is { Count: > 0 } recall)
            writer.WriteLine("recall per class: " + string.Join(", ", recall.Select(r =>
                $"{r.Key}={(r.Value is { } v ? v.ToString("F2", CultureInfo.InvariantCulture) : "-")}")));
    }
}

using System.CommandLine;
using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather feedback RUN --output NAME [--step N] [--item N] [--correct|--incorrect] [--label TEXT|--label-item N] [--comment TEXT]</c>,
/// and for a model's owner <c>feather feedback list|export|delete</c>.
/// </summary>
public static class FeedbackCommand
{
    public static readonly Argument<string?> RunId = new("RUN") { Description = "The run whose step's output the feedback is about", Arity = ArgumentArity.ZeroOrOne };
    public static readonly Option<int?> Step = new("--step") { Description = "The step (default: the last step that succeeded)" };
    public static readonly Option<string?> Output = new("--output") { Description = "The output's name (default: the step's only output)" };
    public static readonly Option<int?> Item = new("--item") { Description = "One item of a multi-item output (image, text or document number, from 0)" };
    public static readonly Option<bool> Correct = new("--correct") { Description = "The output is right" };
    public static readonly Option<bool> Incorrect = new("--incorrect") { Description = "The output is wrong" };
    public static readonly Option<string?> Label = new("--label") { Description = "The right answer, typed" };
    public static readonly Option<int?> LabelItem = new("--label-item") { Description = "The right answer, chosen by number from the items the output offered" };
    public static readonly Option<string?> Comment = new("--comment") { Description = "A comment for the model's owner" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("feedback",
            "Give feedback on a step's output (this shares that step's inputs and outputs with the model's owner); list, export or delete a model's feedback")
        {
            RunId, Step, Output, Item, Correct, Incorrect, Label, LabelItem, Comment,
            FeedbackListCommand.Create(env), FeedbackExportCommand.Create(env), FeedbackDeleteCommand.Create(env),
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var runId = parse.GetValue(RunId) ?? throw new CliException(ExitCodes.Usage, "name the run: feather feedback RUN --correct ...",
                "or `feather feedback list OWNER/MODEL` to see a model's feedback");
            if (parse.GetValue(Correct) && parse.GetValue(Incorrect))
                throw new CliException(ExitCodes.Usage, "--correct and --incorrect exclude each other");
            var run = await context.Api.GetAsync<RunView>(Routes.Expand(Routes.Run, runId), ct);
            var step = parse.GetValue(Step) is { } n
                ? run.Steps.FirstOrDefault(s => s.Index == n) ?? throw new CliException(ExitCodes.NotFound, $"run {runId} has no step {n}")
                : run.Steps.LastOrDefault(s => s.Status == StepStatus.Succeeded)
                  ?? throw new CliException(ExitCodes.Conflict, $"run {runId} has no step that succeeded to give feedback on");
            var output = parse.GetValue(Output);
            if (output is null)
            {
                var names = step.Outputs.AsNode() is JsonArray outputs ? outputs.Select(o => o?["name"]?.GetValue<string>()).OfType<string>().ToArray() : [];
                output = names.Length == 1 ? names[0]
                    : throw new CliException(ExitCodes.Usage, $"step {step.Index} has outputs {string.Join(", ", names)}; name one with --output");
            }
            var rating = parse.GetValue(Correct) ? FeedbackRating.Correct : parse.GetValue(Incorrect) ? FeedbackRating.Incorrect : null;
            var request = new FeedbackRequest(output, parse.GetValue(Item), rating, parse.GetValue(Label), parse.GetValue(LabelItem), parse.GetValue(Comment));
            var given = await context.Api.SendAsync<FeedbackView>(HttpMethod.Post, Routes.Expand(Routes.StepFeedback, runId, step.Index), request, ct);
            if (context.Json) JsonOutput.Write(context.Out, given.Body);
            else
            {
                var f = given.Value;
                context.Out.WriteLine($"feedback {f.Id} on step {f.Step} ({f.StepName}), output '{f.Output}'{(f.Item is { } i ? $" item {i}" : "")} of {f.Owner}/{f.Model} version {f.Version}");
                context.Out.WriteLine("shared with the model's owner: this step's inputs and outputs");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/NAME" };
    public static readonly Option<int?> Version = new("--version") { Description = "Only feedback on this version" };
    public static readonly Option<string?> Rating = new("--rating") { Description = "correct, incorrect or none" };
    public static readonly Option<DateTime?> From = new("--from") { Description = "Given at or after (UTC, e.g. 2026-12-01)" };
    public static readonly Option<DateTime?> To = new("--to") { Description = "Given before (UTC)" };

    public static (string Name, object? Value)[] Filters(ParseResult parse) =>
    [
        ("version", parse.GetValue(Version)), ("rating", parse.GetValue(Rating)),
        ("from", parse.GetValue(From)?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)),
        ("to", parse.GetValue(To)?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)),
    ];
}

/// <summary><c>feather feedback list OWNER/MODEL [--version N] [--rating R] [--from] [--to]</c> (the model's owner and team)</summary>
public static class FeedbackListCommand
{
    public static readonly Option<int?> Limit = new("--limit") { Description = "At most this many (default 100)" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("list", "List the feedback your model received, with the inputs it is about")
        {
            FeedbackCommand.Model, FeedbackCommand.Version, FeedbackCommand.Rating, FeedbackCommand.From, FeedbackCommand.To, Limit,
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(FeedbackCommand.Model)!, allowVersion: false);
            var path = Routes.WithQuery(Routes.Expand(Routes.ModelFeedback, model.Owner, model.Model),
                [.. FeedbackCommand.Filters(parse), ("limit", parse.GetValue(Limit))]);
            var answer = await context.Api.SendAsync<FeedbackView[]>(HttpMethod.Get, path, null, ct);
            if (context.Json)
            {
                JsonOutput.Write(context.Out, answer.Body);
                return ExitCodes.Ok;
            }
            Table.Write(context.Out, ["ID", "GIVEN", "BY", "VERSION", "STEP", "OUTPUT", "RATING", "PREDICTION", "ANSWER", "COMMENT"],
                answer.Value.Select(f => (IReadOnlyList<string>)
                [
                    f.Id, Format.Time(f.CreatedAt), f.CreatedBy ?? "(anonymous)", f.Version.ToString(CultureInfo.InvariantCulture),
                    f.Step.ToString(CultureInfo.InvariantCulture), f.Item is { } i ? $"{f.Output}[{i}]" : f.Output, f.Rating ?? "",
                    Short(f.Prediction), Short(f.Answer), Short(f.Comment),
                ]));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Short(string? text) => text is null ? "" : text.Length <= 40 ? text : text[..39] + "…";
}

/// <summary><c>feather feedback export OWNER/MODEL DIR [filters]</c>: a dataset directory for <c>feather datasets publish</c></summary>
public static class FeedbackExportCommand
{
    public static readonly Argument<string> Directory = new("DIR") { Description = "A new (or empty) directory to write the dataset into" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("export", "Export your model's feedback as a dataset directory (inputs, prediction, corrected label)")
        {
            FeedbackCommand.Model, Directory, FeedbackCommand.Version, FeedbackCommand.Rating, FeedbackCommand.From, FeedbackCommand.To,
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(FeedbackCommand.Model)!, allowVersion: false);
            var target = Path.GetFullPath(parse.GetValue(Directory)!);
            if (System.IO.Directory.Exists(target) && System.IO.Directory.EnumerateFileSystemEntries(target).Any())
                throw new CliException(ExitCodes.Usage, $"{target} is not empty", "name a new directory");
            var path = Routes.WithQuery(Routes.Expand(Routes.ModelFeedbackExport, model.Owner, model.Model), FeedbackCommand.Filters(parse));
            var api = context.Api;
            using var request = new HttpRequestMessage(HttpMethod.Get, api.Resolve(path));
            if (api.Settings.Token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Settings.Token);
            HttpResponseMessage response;
            try { response = await api.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct); }
            catch (HttpRequestException e) { throw api.Unreachable(e); }
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                    throw api.ErrorFor(response.StatusCode, await response.Content.ReadAsStringAsync(ct), HttpMethod.Get, path);
                var zip = Path.GetTempFileName();
                try
                {
                    await using (var file = File.Create(zip))
                        await response.Content.CopyToAsync(file, ct);
                    System.IO.Directory.CreateDirectory(target);
                    // ExtractToDirectory refuses an entry that would land outside the directory
                    ZipFile.ExtractToDirectory(zip, target, overwriteFiles: false);
                }
                finally
                {
                    File.Delete(zip);
                }
            }
            var records = File.ReadLines(Path.Combine(target, "records.jsonl")).Count(l => l.Trim().Length > 0);
            if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["directory"] = target, ["records"] = records });
            else
            {
                context.Out.WriteLine($"wrote {records} records to {target}");
                context.Out.WriteLine($"publish it with: feather datasets publish {target}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather feedback delete ID</c>: the consumer who gave it, or the model's owner</summary>
public static class FeedbackDeleteCommand
{
    public static readonly Argument<string> Id = new("ID") { Description = "The feedback's id" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("delete", "Delete feedback (yours, or on your model)") { Id };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            await context.Api.DeleteAsync(Routes.Expand(Routes.Feedback, parse.GetValue(Id)!), ct);
            if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["deleted"] = parse.GetValue(Id) });
            else context.Out.WriteLine($"deleted feedback {parse.GetValue(Id)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather runs delete RUN</c>: the run with its inputs and outputs (feedback given on it stays)</summary>
public static class RunsDeleteCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("delete", "Delete a run with its inputs and outputs") { RunsCommand.RunId };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            await context.Api.DeleteAsync(RunsCommand.Path(parse), ct);
            if (context.Json) JsonOutput.Write(context.Out, new JsonObject { ["deleted"] = parse.GetValue(RunsCommand.RunId) });
            else context.Out.WriteLine($"deleted run {parse.GetValue(RunsCommand.RunId)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

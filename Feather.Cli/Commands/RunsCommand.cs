using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Output;
using Feather.Cli.Runs;

namespace Feather.Cli.Commands;

/// <summary><c>feather runs show|logs|cancel RUN</c></summary>
public static class RunsCommand
{
    public static readonly Argument<string> RunId = new("RUN") { Description = "The run id printed by `feather run`" };

    public static Command Create(CliEnvironment env) =>
        new("runs", "Inspect and cancel runs") { RunsShowCommand.Create(env), RunsLogsCommand.Create(env), RunsCancelCommand.Create(env) };

    public static string Path(ParseResult parse) => $"api/runs/{Uri.EscapeDataString(parse.GetValue(RunId)!)}";

    public static void WriteRun(TextWriter o, JsonNode? run)
    {
        o.WriteLine($"run {Format.Str(run, "id")}: {Format.Str(run, "owner")}/{Format.Str(run, "model")} version {Format.Str(run, "version")}" +
                    (Format.Str(run, "status") is { Length: > 0 } s ? $", {s}" : ""));
        var steps = run?["steps"] as JsonArray ?? [];
        Table.Write(o, ["STEP", "NAME", "STATUS", "STARTED", "ENDED"], steps.Select(step => (IReadOnlyList<string>)
            [Format.Str(step, "index"), Format.Str(step, "name"), Format.Str(step, "status"), Format.Time(step, "startedAt"), Format.Time(step, "endedAt")]));
        foreach (var step in steps)
        {
            var status = Format.Str(step, "status");
            if (status == "succeeded" && step?["outputs"] is JsonArray { Count: > 0 } outputs)
            {
                o.WriteLine($"step {Format.Str(step, "index")} outputs:");
                StepPrinter.WriteOutputs(o, outputs);
            }
            else if (step?["error"] is JsonObject)
            {
                o.WriteLine($"step {Format.Str(step, "index")} error:");
                StepPrinter.WriteError(o, step);
            }
        }
    }
}

/// <summary><c>feather runs show RUN</c> (<c>GET /api/runs/{id}</c>)</summary>
public static class RunsShowCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("show", "Show a run's steps, statuses and outputs") { RunsCommand.RunId };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var run = await context.Api.GetAsync(RunsCommand.Path(parse), ct);
            if (context.Json) JsonOutput.Write(context.Out, run);
            else RunsCommand.WriteRun(context.Out, run);
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather runs logs RUN [--step N]</c>: each step's log, from <c>GET /api/runs/{id}</c></summary>
public static class RunsLogsCommand
{
    public static readonly Option<int?> Step = new("--step") { Description = "Only this step's log" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("logs", "Print the logs (stderr of the model) of a run's steps") { RunsCommand.RunId, Step };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var run = await context.Api.GetAsync(RunsCommand.Path(parse), ct);
            var only = parse.GetValue(Step);
            var steps = (run?["steps"] as JsonArray ?? []).Where(s => only is null || Format.Str(s, "index") == only.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            if (only is not null && steps.Count == 0)
                throw new CliException(ExitCodes.NotFound, $"run {parse.GetValue(RunsCommand.RunId)} has no step {only}");
            if (context.Json)
            {
                JsonOutput.Write(context.Out, new JsonArray(steps.Select(s => (JsonNode)new JsonObject
                {
                    ["index"] = s?["index"]?.DeepClone(), ["name"] = s?["name"]?.DeepClone(), ["logs"] = Format.Str(s, "logs"),
                }).ToArray()));
                return ExitCodes.Ok;
            }
            foreach (var step in steps)
            {
                var logs = Format.Str(step, "logs");
                context.Out.WriteLine($"== step {Format.Str(step, "index")} {Format.Str(step, "name")} ({Format.Str(step, "status")}){(logs.Length == 0 ? ": no output" : "")}");
                if (logs.Length > 0) context.Out.WriteLine(logs.TrimEnd('\n'));
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary><c>feather runs cancel RUN</c>: cancels the run's queued or running step (<c>DELETE /api/runs/{id}/steps/{index}</c>)</summary>
public static class RunsCancelCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("cancel", "Cancel a run's queued or running step") { RunsCommand.RunId };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var run = await context.Api.GetAsync(RunsCommand.Path(parse), ct) as JsonObject ?? [];
            var pending = (run["steps"] as JsonArray ?? []).OfType<JsonObject>()
                .FirstOrDefault(s => Format.Str(s, "status") is "queued" or "running");
            if (pending is null)
            {
                context.Err.WriteLine($"error: run {parse.GetValue(RunsCommand.RunId)} has no queued or running step to cancel");
                return ExitCodes.Conflict;
            }
            var index = pending["index"]!.GetValue<int>();
            var step = await context.Api.SendAsync(HttpMethod.Delete, $"{RunsCommand.Path(parse)}/steps/{index}", null, ct);
            if (context.Json) JsonOutput.Write(context.Out, step);
            else context.Out.WriteLine($"cancelled step {index} of run {parse.GetValue(RunsCommand.RunId)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

using System.CommandLine;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Cli.Runs;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary><c>feather runs show|logs|cancel RUN</c></summary>
public static class RunsCommand
{
    public static readonly Argument<string> RunId = new("RUN") { Description = "The run id printed by `feather run`" };

    public static Command Create(CliEnvironment env) =>
        new("runs", "Inspect and cancel runs") { RunsShowCommand.Create(env), RunsLogsCommand.Create(env), RunsCancelCommand.Create(env), RunsDeleteCommand.Create(env) };

    public static string Path(ParseResult parse) => Routes.Expand(Routes.Run, parse.GetValue(RunId)!);

    /// <summary>The run, read as the contract's <see cref="RunView"/>, with the server's JSON for <c>--json</c>.</summary>
    public static Task<Answer<RunView>> GetAsync(CommandContext context, ParseResult parse, CancellationToken ct) =>
        context.Api.SendAsync<RunView>(HttpMethod.Get, Path(parse), null, ct);

    public static void WriteRun(TextWriter o, RunView run)
    {
        o.WriteLine($"run {run.Id}: {run.Owner}/{run.Model} version {run.Version}");
        Table.Write(o, ["STEP", "NAME", "STATUS", "STARTED", "ENDED"], run.Steps.Select(step => (IReadOnlyList<string>)
            [Index(step), step.Name, step.Status, Format.Time(step.StartedAt), Format.Time(step.EndedAt)]));
        foreach (var step in run.Steps)
        {
            if (step.Status == StepStatus.Succeeded && step.Outputs.AsNode() is JsonArray { Count: > 0 } outputs)
            {
                o.WriteLine($"step {Index(step)} outputs:");
                StepPrinter.WriteOutputs(o, outputs);
            }
            else if (step.Error.AsNode() is JsonObject)
            {
                o.WriteLine($"step {Index(step)} error:");
                StepPrinter.WriteError(o, step);
            }
        }
    }

    public static string Index(StepView step) => step.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary><c>feather runs show RUN</c> (<c>GET /api/runs/{id}</c>)</summary>
public static class RunsShowCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("show", "Show a run's steps, statuses and outputs") { RunsCommand.RunId };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var run = await RunsCommand.GetAsync(context, parse, ct);
            if (context.Json) JsonOutput.Write(context.Out, run.Body);
            else RunsCommand.WriteRun(context.Out, run.Value);
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
            var run = await context.Api.GetAsync<RunView>(RunsCommand.Path(parse), ct);
            var only = parse.GetValue(Step);
            var steps = run.Steps.Where(s => only is null || s.Index == only.Value).ToList();
            if (only is not null && steps.Count == 0)
                throw new CliException(ExitCodes.NotFound, $"run {parse.GetValue(RunsCommand.RunId)} has no step {only}");
            if (context.Json)
            {
                JsonOutput.Write(context.Out, new JsonArray(steps.Select(s => (JsonNode)new JsonObject
                {
                    ["index"] = s.Index, ["name"] = s.Name, ["logs"] = s.Logs,
                }).ToArray()));
                return ExitCodes.Ok;
            }
            foreach (var step in steps)
            {
                var logs = step.Logs ?? "";
                context.Out.WriteLine($"== step {RunsCommand.Index(step)} {step.Name} ({step.Status}){(logs.Length == 0 ? ": no output" : "")}");
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
            var run = await context.Api.GetAsync<RunView>(RunsCommand.Path(parse), ct);
            var pending = run.Steps.FirstOrDefault(s => StepStatus.IsActive(s.Status));
            if (pending is null)
            {
                context.Err.WriteLine($"error: run {parse.GetValue(RunsCommand.RunId)} has no queued or running step to cancel");
                return ExitCodes.Conflict;
            }
            var index = pending.Index;
            var step = await context.Api.SendAsync<StepView>(HttpMethod.Delete, Routes.Expand(Routes.Step, run.Id, index), null, ct);
            if (context.Json) JsonOutput.Write(context.Out, step.Body);
            else context.Out.WriteLine($"cancelled step {index} of run {parse.GetValue(RunsCommand.RunId)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}

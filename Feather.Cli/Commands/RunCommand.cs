using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Cli.Runs;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather run OWNER/MODEL[@VERSION|@TAG] --inputs FILE.json</c>: creates a run, submits each step's responses
/// (waiting up to 120 s per request, then polling), prints outputs, stops at the first failed step.
/// Without <c>--inputs</c>, in a terminal (or with <c>--interactive</c>), it asks for each step's
/// responses before submitting it (<see cref="InteractivePrompter"/>).
/// </summary>
public static class RunCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL, OWNER/MODEL@VERSION or OWNER/MODEL@TAG" };
    public static readonly Option<System.IO.FileInfo> Inputs = new("--inputs", "-i")
    {
        Description = "JSON file with each step's responses: {\"steps\": [{\"INPUT\": RESPONSE}, ...]}, or naming the step at each point of the path: {\"path\": [{\"step\": NAME, \"responses\": {...}}, ...]}; without it, in a terminal, each step's inputs are asked for",
    };
    public static readonly Option<bool> Interactive = new("--interactive")
    {
        Description = "Ask for each step's inputs on standard input even when it is not a terminal",
    };
    public static readonly Option<System.IO.DirectoryInfo> Download = new("--download", "-d")
    {
        Description = "Download the files each step gives (File.Download, images, documents) into this folder, streamed to disk",
    };

    public const int WaitSeconds = 120;
    public static TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("run", "Run a published model's steps with the responses in an inputs file, or interactively") { Model, Inputs, Interactive, Download };
        // Checked while parsing, so the message comes with the pointer to --help like other usage errors.
        command.Validators.Add(result =>
        {
            var inputs = result.GetValue(Inputs);
            var interactive = result.GetValue(Interactive);
            if (inputs is not null && interactive)
                result.AddError("--inputs and --interactive exclude each other: give one of them");
            else if (inputs is null && !interactive && !env.InIsTerminal)
                result.AddError("--inputs is required when standard input is not a terminal (or give --interactive to answer the prompts from standard input)");
        });
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var model = ModelRef.Parse(parse.GetValue(Model)!);
        var inputsFile = parse.GetValue(Inputs);
        var interactive = inputsFile is null;
        var inputs = inputsFile is null ? [] : InputsFile.Load(inputsFile.FullName);
        var api = context.Api;
        var downloads = parse.GetValue(Download);
        var files = new StepFiles(api, context.Err, context.Env.ErrIsTerminal && !context.Json);
        var baseDirectory = inputsFile?.DirectoryName ?? Directory.GetCurrentDirectory();

        var run = await api.PostAsync<RunView>(Routes.Expand(Routes.StartRun, model.Owner, model.Model), new StartRunRequest(model.Version), ct);
        var version = await api.GetAsync<VersionDetail>(Routes.Expand(Routes.Version, model.Owner, model.Model, run.Version), ct);
        var metadataSteps = version.Metadata.AsNode()?["steps"] as JsonArray ?? [];
        var graph = version.Metadata.AsNode()?["graph"] is JsonObject;
        context.Info.WriteLine(graph
            ? $"run {run.Id}: {run.Owner}/{run.Model} version {run.Version}, a graph of {metadataSteps.Count} step(s) starting with {run.Steps[0].Name}"
            : $"run {run.Id}: {run.Owner}/{run.Model} version {run.Version}, {run.Steps.Length} step(s)");
        if (!graph && inputs.Count > run.Steps.Length)
            throw new CliException(ExitCodes.ValidationFailed, $"the inputs file has {inputs.Count} steps but {model} has {run.Steps.Length}",
                "remove the extra entries from \"steps\"");
        InteractivePrompter? prompter = null;
        if (interactive)
        {
            if (metadataSteps.Count == 0)
                throw new CliException(ExitCodes.Error, $"the server's version of {model} has no metadata steps to ask for");
            prompter = new InteractivePrompter(context.Env.In, context.Info, context.Err);
        }

        var outcome = ExitCodes.Ok;
        JsonNode? previousOutputs = null;
        StepView? previous = null;
        for (var index = 0; ; index++)
        {
            // What the server offers at this point of the path: the first step, then what the step before offered when it succeeded.
            var offered = index == 0 ? [run.Steps[0].Name] : previous!.Next ?? [];
            var ends = index > 0 && previous!.Ends;
            string? name;
            JsonObject responses;
            if (prompter is not null)
            {
                if (offered.Length == 0) break;
                name = offered.Length == 1 && !ends ? offered[0] : prompter.ChooseNext(index, offered, ends);
                if (name is null) break;
                var stepMetadata = metadataSteps.OfType<JsonObject>().FirstOrDefault(m => m["name"]?.GetValue<string>() == name);
                responses = prompter.Ask(index, stepMetadata, previousOutputs);
            }
            else if (index < inputs.Count)
                (name, responses) = (inputs[index].Step, inputs[index].Responses);
            else if (ends || offered.Length == 0 || (inputs.Count > 0 && inputs[0].Step is not null && offered.Length > 0 && FailPathEnd(index, offered)))
                break;
            else
                (name, responses) = (null, []);

            responses = await files.UploadAsync(run.Id, index, responses, baseDirectory, ct);
            var step = await RunStepAsync(api, run.Id, index, responses, ct, name);
            previous = step;
            var label = step.Name is { Length: > 0 } n ? n : $"#{index}";
            previousOutputs = step.Outputs.AsNode();
            if (!context.Json)
            {
                var where = (step.Iteration > 1 ? $" (iteration {step.Iteration})" : "") + (graph && step.Branch is { } b ? $" [branch {b}]" : "");
                context.Out.WriteLine($"step {index} {label}{where}: {step.Status}{Elapsed(step)}");
                if (step.Status == StepStatus.Succeeded) StepPrinter.WriteOutputs(context.Out, previousOutputs);
                if (graph && step.Status == StepStatus.Succeeded)
                    context.Out.WriteLine("  next: " + (step.Next is { Length: > 0 } next ? string.Join(" or ", next) + (step.Ends ? ", or the end" : "") : "the end"));
            }
            if (downloads is not null && step.Status == StepStatus.Succeeded)
                foreach (var path in await files.DownloadAsync(previousOutputs, downloads.FullName, ct))
                    context.Info.WriteLine($"saved {path}");
            if (step.Status != StepStatus.Succeeded)
            {
                StepPrinter.WriteError(context.Err, step);
                outcome = step.Status == StepStatus.InvalidInput ? ExitCodes.ValidationFailed : ExitCodes.StepFailed;
                var entry = inputs.Count > 0 && inputs[0].Step is not null ? $"path[{index}]" : $"steps[{index}]";
                context.Err.WriteLine(outcome == ExitCodes.ValidationFailed
                    ? $"error: step {index} ({label}) refused its input; {(interactive ? "run again with other answers" : $"fix {entry} in the inputs file")}"
                    : $"error: step {index} ({label}) {step.Status}; see `feather runs logs {run.Id}`");
                break;
            }
        }
        if (context.Json) JsonOutput.Write(context.Out, (await api.SendAsync<RunView>(HttpMethod.Get, Routes.Expand(Routes.Run, run.Id), null, ct)).Body);
        return outcome;
    }

    /// <summary>An inputs file's path that stops where the run cannot end.</summary>
    private static bool FailPathEnd(int index, string[] offered) =>
        throw new CliException(ExitCodes.ValidationFailed,
            $"the inputs file's path ends after {index} step(s) but the run goes on: next is {string.Join(" or ", offered)}",
            $"add path[{index}] naming one of them");

    /// <summary>Submits one step with <c>Prefer: wait=120</c>; on 202 polls the step until it is no longer queued or running.</summary>
    public static async Task<StepView> RunStepAsync(FeatherApi api, string runId, int index, JsonObject responses, CancellationToken ct,
        string? stepName = null)
    {
        Answer<StepView> answer;
        var body = new JsonObject { ["responses"] = responses };
        if (stepName is not null) body["step"] = stepName;
        try
        {
            answer = await api.SendAsync<StepView>(HttpMethod.Post, Routes.Expand(Routes.Step, runId, index), body, ct, TimeSpan.FromSeconds(WaitSeconds + 30),
                request => request.Headers.Add("Prefer", $"wait={WaitSeconds}"));
        }
        catch (CliException e) when (e.Code == ExitCodes.ValidationFailed && e.Problem is JsonObject problem && problem["step"] is null)
        {
            throw new CliException(e.Code, $"step {index}: {e.Message}", $"fix steps[{index}] of the inputs file") { Problem = e.Problem };
        }
        var step = answer.Value;
        var accepted = answer.Status == HttpStatusCode.Accepted;
        while (accepted || StepStatus.IsActive(step.Status))
        {
            await Task.Delay(PollInterval, ct);
            step = await api.GetAsync<StepView>(Routes.Expand(Routes.Step, runId, index), ct);
            accepted = false;
        }
        return step;
    }

    private static string Elapsed(StepView step) =>
        step.StartedAt is { } start && step.EndedAt is { } end ? $" ({Format.Duration(end - start)})" : "";
}

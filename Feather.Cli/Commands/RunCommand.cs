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
        Description = "JSON file with each step's responses: {\"steps\": [{\"INPUT\": RESPONSE}, ...]}; without it, in a terminal, each step's inputs are asked for",
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
        var steps = run.Steps;
        context.Info.WriteLine($"run {run.Id}: {run.Owner}/{run.Model} version {run.Version}, {steps.Length} step(s)");
        if (inputs.Count > steps.Length)
            throw new CliException(ExitCodes.ValidationFailed, $"the inputs file has {inputs.Count} steps but {model} has {steps.Length}",
                "remove the extra entries from \"steps\"");

        JsonArray metadataSteps = [];
        InteractivePrompter? prompter = null;
        if (interactive)
        {
            var version = await api.GetAsync<VersionDetail>(Routes.Expand(Routes.Version, model.Owner, model.Model, run.Version), ct);
            metadataSteps = version.Metadata.AsNode()?["steps"] as JsonArray
                ?? throw new CliException(ExitCodes.Error, $"the server's version of {model} has no metadata steps to ask for");
            prompter = new InteractivePrompter(context.Env.In, context.Info, context.Err);
        }

        var outcome = ExitCodes.Ok;
        JsonNode? previousOutputs = null;
        for (var index = 0; index < steps.Length; index++)
        {
            var responses = prompter is not null ? prompter.Ask(index, metadataSteps.ElementAtOrDefault(index), previousOutputs)
                : index < inputs.Count ? inputs[index] : [];
            responses = await files.UploadAsync(run.Id, index, responses, baseDirectory, ct);
            var step = await RunStepAsync(api, run.Id, index, responses, ct);
            var name = steps[index].Name is { Length: > 0 } n ? n : $"#{index}";
            previousOutputs = step.Outputs.AsNode();
            if (!context.Json)
            {
                context.Out.WriteLine($"step {index} {name}: {step.Status}{Elapsed(step)}");
                if (step.Status == StepStatus.Succeeded) StepPrinter.WriteOutputs(context.Out, previousOutputs);
            }
            if (downloads is not null && step.Status == StepStatus.Succeeded)
                foreach (var path in await files.DownloadAsync(previousOutputs, downloads.FullName, ct))
                    context.Info.WriteLine($"saved {path}");
            if (step.Status != StepStatus.Succeeded)
            {
                StepPrinter.WriteError(context.Err, step);
                outcome = step.Status == StepStatus.InvalidInput ? ExitCodes.ValidationFailed : ExitCodes.StepFailed;
                context.Err.WriteLine(outcome == ExitCodes.ValidationFailed
                    ? $"error: step {index} ({name}) refused its input; {(interactive ? "run again with other answers" : $"fix steps[{index}] in the inputs file")}"
                    : $"error: step {index} ({name}) {step.Status}; see `feather runs logs {run.Id}`");
                break;
            }
        }
        if (context.Json) JsonOutput.Write(context.Out, (await api.SendAsync<RunView>(HttpMethod.Get, Routes.Expand(Routes.Run, run.Id), null, ct)).Body);
        return outcome;
    }

    /// <summary>Submits one step with <c>Prefer: wait=120</c>; on 202 polls the step until it is no longer queued or running.</summary>
    public static async Task<StepView> RunStepAsync(FeatherApi api, string runId, int index, JsonObject responses, CancellationToken ct)
    {
        Answer<StepView> answer;
        try
        {
            answer = await api.SendAsync<StepView>(HttpMethod.Post, Routes.Expand(Routes.Step, runId, index),
                new JsonObject { ["responses"] = responses }, ct, TimeSpan.FromSeconds(WaitSeconds + 30),
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

using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Cli.Runs;

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
    public static readonly Option<FileInfo> Inputs = new("--inputs", "-i")
    {
        Description = "JSON file with each step's responses: {\"steps\": [{\"INPUT\": RESPONSE}, ...]}; without it, in a terminal, each step's inputs are asked for",
    };
    public static readonly Option<bool> Interactive = new("--interactive")
    {
        Description = "Ask for each step's inputs on standard input even when it is not a terminal",
    };

    public const int WaitSeconds = 120;
    public static TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
    private static readonly HashSet<string> Pending = ["queued", "running", "pending"];

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("run", "Run a published model's steps with the responses in an inputs file, or interactively") { Model, Inputs, Interactive };
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

        var body = new JsonObject();
        if (model.Version is not null) body["version"] = model.Version;
        var run = await api.PostAsync($"{model.ApiPath}/runs", body, ct)
            ?? throw new CliException(ExitCodes.Error, "the server answered the new run with no body");
        var runId = Format.Str(run, "id");
        var steps = run["steps"] as JsonArray ?? [];
        context.Info.WriteLine($"run {runId}: {Format.Str(run, "owner", model.Owner)}/{Format.Str(run, "model", model.Model)} version {Format.Str(run, "version")}, {steps.Count} step(s)");
        if (inputs.Count > steps.Count)
            throw new CliException(ExitCodes.ValidationFailed, $"the inputs file has {inputs.Count} steps but {model} has {steps.Count}",
                "remove the extra entries from \"steps\"");

        JsonArray metadataSteps = [];
        InteractivePrompter? prompter = null;
        if (interactive)
        {
            var version = await api.GetAsync($"{model.ApiPath}/versions/{Uri.EscapeDataString(Format.Str(run, "version"))}", ct);
            metadataSteps = version?["metadata"]?["steps"] as JsonArray
                ?? throw new CliException(ExitCodes.Error, $"the server's version of {model} has no metadata steps to ask for");
            prompter = new InteractivePrompter(context.Env.In, context.Info, context.Err);
        }

        var outcome = ExitCodes.Ok;
        JsonNode? previousOutputs = null;
        for (var index = 0; index < steps.Count; index++)
        {
            var responses = prompter is not null ? prompter.Ask(index, metadataSteps.ElementAtOrDefault(index), previousOutputs)
                : index < inputs.Count ? inputs[index] : [];
            var step = await RunStepAsync(api, runId, index, responses, ct);
            var status = Format.Str(step, "status");
            var name = Format.Str(steps[index], "name", $"#{index}");
            if (!context.Json)
            {
                context.Out.WriteLine($"step {index} {name}: {status}{Elapsed(step)}");
                if (status == "succeeded") StepPrinter.WriteOutputs(context.Out, step?["outputs"]);
            }
            previousOutputs = step?["outputs"];
            if (status != "succeeded")
            {
                StepPrinter.WriteError(context.Err, step);
                outcome = status == "invalid_input" ? ExitCodes.ValidationFailed : ExitCodes.StepFailed;
                context.Err.WriteLine(outcome == ExitCodes.ValidationFailed
                    ? $"error: step {index} ({name}) refused its input; {(interactive ? "run again with other answers" : $"fix steps[{index}] in the inputs file")}"
                    : $"error: step {index} ({name}) {status}; see `feather runs logs {runId}`");
                break;
            }
        }
        if (context.Json) JsonOutput.Write(context.Out, await api.GetAsync($"api/runs/{Uri.EscapeDataString(runId)}", ct));
        return outcome;
    }

    /// <summary>Submits one step with <c>Prefer: wait=120</c>; on 202 polls the run until the step leaves queued/running.</summary>
    public static async Task<JsonNode?> RunStepAsync(FeatherApi api, string runId, int index, JsonObject responses, CancellationToken ct)
    {
        var id = Uri.EscapeDataString(runId);
        JsonNode? step;
        HttpStatusCode code;
        try
        {
            (code, step) = await api.SendForStatusAsync(HttpMethod.Post, $"api/runs/{id}/steps/{index}",
                new JsonObject { ["responses"] = responses }, ct, TimeSpan.FromSeconds(WaitSeconds + 30),
                request => request.Headers.Add("Prefer", $"wait={WaitSeconds}"));
        }
        catch (CliException e) when (e.Code == ExitCodes.ValidationFailed && e.Problem is JsonObject problem && problem["step"] is null)
        {
            throw new CliException(e.Code, $"step {index}: {e.Message}", $"fix steps[{index}] of the inputs file") { Problem = e.Problem };
        }
        while (code == HttpStatusCode.Accepted || Pending.Contains(Format.Str(step, "status")))
        {
            await Task.Delay(PollInterval, ct);
            var run = await api.GetAsync($"api/runs/{id}", ct);
            step = (run?["steps"] as JsonArray ?? []).FirstOrDefault(s => Format.Str(s, "index") == index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            code = HttpStatusCode.OK;
            if (step is null) throw new CliException(ExitCodes.Error, $"the run {runId} no longer lists step {index}");
        }
        return step;
    }

    private static string Elapsed(JsonNode? step) =>
        DateTimeOffset.TryParse(Format.Str(step, "startedAt"), out var start) && DateTimeOffset.TryParse(Format.Str(step, "endedAt"), out var end)
            ? $" ({Format.Duration(end - start)})" : "";
}

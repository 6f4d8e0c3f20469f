using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather finetune OWNER/MODEL --dataset OWNER/NAME [--version V] [--dataset-version N] [--param k=v]... [--wait]</c>
/// (<c>POST /api/finetunes</c>, then <c>GET /api/finetunes/{id}</c> until it ends, printing each progress report).
/// </summary>
public static class FinetuneCommand
{
    public static readonly Argument<string> Model = new("MODEL") { Description = "OWNER/MODEL (or OWNER/MODEL@VERSION) to fine-tune" };
    public static readonly Option<string> Dataset = new("--dataset", "-d") { Description = "The dataset to train on: OWNER/NAME", Required = true };
    public static readonly Option<string?> Version = new("--version") { Description = "A version number or tag of the model (default: the live version)" };
    public static readonly Option<int?> DatasetVersion = new("--dataset-version") { Description = "The dataset version (default: the latest)" };
    public static readonly Option<string[]> Param = new("--param", "-p")
    {
        Description = "A hyperparameter as NAME=VALUE (repeatable); the others take the defaults the training function declares",
        AllowMultipleArgumentsPerToken = false,
    };
    public static readonly Option<bool> Wait = new("--wait", "-w") { Description = "Follow the job's progress and wait for the new version" };

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("finetune", "Fine-tune a model on a dataset on the server; the result is a new version")
        {
            Model, Dataset, Version, DatasetVersion, Param, Wait,
        };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            var model = ModelRef.Parse(parse.GetValue(Model)!);
            var dataset = parse.GetValue(Dataset)!;
            if (dataset.Split('/') is not [{ Length: > 0 }, { Length: > 0 }])
                throw new CliException(ExitCodes.Usage, $"'{dataset}' is not a dataset reference", "give it as OWNER/NAME, e.g. admin/digits-train");
            context.Api.RequireLogin();
            var version = parse.GetValue(Version) ?? model.Version;
            var pairs = parse.GetValue(Param) ?? [];
            Dictionary<string, JsonElement>? parameters = null;
            if (pairs.Length > 0)
            {
                // the declared types tell "3" (an int) from "3" (a str)
                var detail = await context.Api.GetAsync<VersionDetail>(Routes.Expand(Routes.Version, model.Owner, model.Model, version ?? "live"), ct);
                parameters = ParseParams(pairs, detail.Metadata);
            }
            var request = new StartFinetuneRequest($"{model.Owner}/{model.Model}", dataset, version, parse.GetValue(DatasetVersion), parameters);
            var started = await context.Api.SendAsync<FinetuneView>(HttpMethod.Post, Routes.Finetunes, request, ct);
            var job = started.Value;
            if (!parse.GetValue(Wait))
            {
                if (context.Json) JsonOutput.Write(context.Out, started.Body);
                else context.Out.WriteLine($"fine-tune {job.Id} {job.Status}: {Describe(job)}");
                return ExitCodes.Ok;
            }
            context.Info.WriteLine($"fine-tune {job.Id}: {Describe(job)}");
            var path = Routes.Expand(Routes.Finetune, job.Id);
            var shown = 0;
            var status = "";
            while (true)
            {
                var answer = await context.Api.SendAsync<FinetuneDetail>(HttpMethod.Get, path, null, ct);
                var j = answer.Value.Job;
                if (!context.Json)
                {
                    if (j.Status != status) context.Info.WriteLine($"  {j.Status}");
                    status = j.Status;
                    foreach (var point in answer.Value.History.Skip(shown)) context.Info.WriteLine("  " + Format(point));
                    shown = Math.Max(shown, answer.Value.History.Length);
                }
                if (FinetuneStatus.IsTerminal(j.Status))
                {
                    if (context.Json) JsonOutput.Write(context.Out, answer.Body);
                    else if (j.Status == FinetuneStatus.Succeeded)
                        context.Out.WriteLine($"{j.ResultModel} version {j.ResultVersion} made by {j.Id}" +
                                              (j.Seconds is { } s ? $" in {s.ToString("F1", CultureInfo.InvariantCulture)} s" : "") +
                                              (j.Metrics.Count > 0 ? "; " + string.Join(", ", j.Metrics.Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}")) : ""));
                    if (j.Status == FinetuneStatus.Succeeded) return ExitCodes.Ok;
                    if (!context.Json)
                    {
                        context.Env.Err.WriteLine($"fine-tune {j.Status}: {j.Error}");
                        var tail = answer.Value.Logs.Split('\n').TakeLast(30);
                        context.Env.Err.WriteLine("--- the end of its log:\n" + string.Join('\n', tail));
                    }
                    return ExitCodes.FinetuneFailed;
                }
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        });
        return command;
    }

    /// <summary>NAME=VALUE pairs typed by the training function's declaration (metadata <c>train.params</c>).</summary>
    public static Dictionary<string, JsonElement> ParseParams(string[] pairs, JsonElement metadata)
    {
        if (!metadata.TryGetProperty("train", out var train) || !train.TryGetProperty("params", out var declared))
            throw new CliException(ExitCodes.ValidationFailed, "the model version declares no training function", "fine-tune a model whose ftr.build(...) has train=fn");
        var result = new Dictionary<string, JsonElement>();
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0) throw new CliException(ExitCodes.Usage, $"--param '{pair}' is not NAME=VALUE", "e.g. --param epochs=10");
            var (name, text) = (pair[..eq].Trim(), pair[(eq + 1)..]);
            if (!declared.TryGetProperty(name, out var declaration))
                throw new CliException(ExitCodes.Usage, $"unknown param '{name}'",
                    "the training function declares: " + string.Join(", ", declared.EnumerateObject().Select(p => p.Name)));
            var type = declaration.TryGetProperty("type", out var t) ? t.GetString() : "string";
            object? value = type switch
            {
                "integer" => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null,
                "number" => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null,
                "boolean" => text.Trim().ToLowerInvariant() switch { "true" or "1" or "yes" => true, "false" or "0" or "no" => false, _ => null },
                _ => text,
            };
            if (value is null) throw new CliException(ExitCodes.Usage, $"--param {name}: '{text}' is not a{(type == "integer" ? "n" : "")} {type}", null);
            result[name] = JsonSerializer.SerializeToElement(value);
        }
        return result;
    }

    private static string Describe(FinetuneView j) =>
        $"{j.BaseModel} version {j.BaseVersion} on {j.Dataset} version {j.DatasetVersion} with {j.Params.GetRawText()} -> {j.ResultModel}";

    public static string Format(FinetuneProgress p)
    {
        var parts = new List<string>();
        if (p.Epoch is { } e) parts.Add($"epoch {e}" + (p.Epochs is { } n ? $"/{n}" : ""));
        parts.AddRange(p.Metrics.Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
        return string.Join(", ", parts);
    }
}

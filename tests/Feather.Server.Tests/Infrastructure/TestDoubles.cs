using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Environments;
using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Infrastructure;

/// <summary>
/// TEST DOUBLE of the runner's image builder (the real one, in Feather.Server/Environments, needs
/// Docker and is tested by the runner's own tests). It records each request and answers Ready,
/// or Failed for models whose name starts with "broken".
/// </summary>
public sealed class TestDoubleImageBuilder : IImageBuilder
{
    public ConcurrentQueue<VersionImageRequest> Requests { get; } = new();

    public Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct)
    {
        Requests.Enqueue(request);
        log?.Report($"building {request.ModelId}-{request.VersionNumber}");
        var failed = request.Files.Any(f => f.Path == "broken.txt");
        return Task.FromResult(new ImageBuildResult(
            failed ? ImageBuildOutcome.Failed : ImageBuildOutcome.Ready,
            "test-double-env:1", $"test-double-version:{request.ModelId}-{request.VersionNumber}",
            $"log of {request.ModelId}-{request.VersionNumber}", TimeSpan.FromMilliseconds(5),
            failed ? "package 'does-not-exist' was not found" : null));
    }
}

/// <summary>
/// TEST DOUBLE of the runner's step executor. It echoes what it received, so tests can check the
/// runtime request the server built. A response text "boom" makes the model fail, "slow" makes
/// the step wait until released (or the server stops), "bad" gives invalid_input. Step 0 offers
/// TestModel's "choices" (items first, second, slow) for step 1 to select from.
/// </summary>
public sealed class TestDoubleStepExecutor : IStepExecutor
{
    public ConcurrentQueue<StepExecutionRequest> Requests { get; } = new();
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
    {
        Requests.Enqueue(request);
        if (request.Started is not null) await request.Started(); // no queue here: every step starts at once
        var runtime = JsonNode.Parse(request.RequestJson)!;
        // the words below are looked for in what a person typed, never in a file's bytes or its random id or path
        // (a hex id holding "bad" made steps with uploads fail at random)
        var text = Typed(runtime["responses"]!.DeepClone()).ToJsonString();
        // Step 1 chooses among the items step 0 offered (below): the chosen item counts as its text.
        if (runtime["previous"] is JsonArray previous && runtime["responses"]?["choices"]?["selected"] is JsonValue chosen
            && previous.FirstOrDefault(o => o?["name"]?.GetValue<string>() == "choices") is { } offered)
            text += offered["value"]!["items"]![chosen.GetValue<int>()]!.GetValue<string>();
        if (text.Contains("slow"))
        {
            try { await Release.Task.WaitAsync(ct); }
            catch (OperationCanceledException)
            {
                return new StepExecutionResult(StepOutcome.Cancelled, null, "", "cancelled", TimeSpan.Zero);
            }
        }
        if (text.Contains("boom"))
            return Result(StepOutcome.Failed, """{"type":"result","status":"failed","error":{"type":"ValueError","message":"boom","frames":[]}}""", "model raised ValueError");
        if (text.Contains("bad"))
            return Result(StepOutcome.InvalidInput, """{"type":"result","status":"invalid_input","error":{"input":"name","message":"too long"}}""", "invalid input");

        var outputs = new JsonArray(new JsonObject
        {
            ["name"] = "echo", ["component"] = "Text.View", ["props"] = new JsonObject(),
            ["value"] = new JsonObject { ["step"] = runtime["step"]!.GetValue<int>(), ["responses"] = runtime["responses"]!.DeepClone() },
        });
        // TestModel's step 0 declares a List.SelectOne output "choices", the input of step 1.
        if (runtime["step"]!.GetValue<int>() == 0)
            outputs.Add(new JsonObject
            {
                ["name"] = "choices", ["component"] = "List.SelectOne", ["version"] = 1,
                ["props"] = new JsonObject { ["title"] = null, ["description"] = null, ["style"] = "radio" },
                ["value"] = new JsonObject { ["items"] = new JsonArray("first", "second", "slow") },
                // what the SDK emits with it: one of the 3 items offered
                ["schema"] = JsonNode.Parse("""{"value": null, "response": {"type": "object", "required": ["selected"], "additionalProperties": false, "properties": {"selected": {"type": "integer", "minimum": 0, "maximum": 2}}}}"""),
            });
        // ... and "picks" (at most 2 of a, b, c) for models that declare it (StepInputValidationApiTests).
        if (runtime["step"]!.GetValue<int>() == 0)
            outputs.Add(new JsonObject
            {
                ["name"] = "picks", ["component"] = "List.SelectMulti", ["version"] = 1,
                ["props"] = new JsonObject { ["title"] = null, ["description"] = null, ["max_selected"] = 2 },
                ["value"] = new JsonObject { ["items"] = new JsonArray("a", "b", "c"), ["preselected"] = new JsonArray() },
                ["schema"] = JsonNode.Parse("""{"value": null, "response": {"type": "object", "required": ["selected"], "additionalProperties": false, "properties": {"selected": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 2}, "uniqueItems": true, "maxItems": 2}}}}"""),
            });
        var result = new JsonObject { ["type"] = "result", ["status"] = "succeeded", ["outputs"] = outputs };
        return Result(StepOutcome.Succeeded, result.ToJsonString(), "ok");
    }

    private static readonly string[] FileKeys = ["data", "path", "file", "url", "size", "media_type"];

    /// <summary>The responses without what describes files (their data, id, path, URL, size and type).</summary>
    private static JsonNode Typed(JsonNode node)
    {
        if (node is JsonObject o)
        {
            foreach (var key in FileKeys) o.Remove(key);
            foreach (var (_, child) in o.ToList()) if (child is not null) Typed(child);
        }
        else if (node is JsonArray a)
            foreach (var child in a) if (child is not null) Typed(child);
        return node;
    }

    private static StepExecutionResult Result(StepOutcome outcome, string json, string message) =>
        new(outcome, JsonDocument.Parse(json).RootElement.Clone(), "a log line\n", message, TimeSpan.FromMilliseconds(3));
}

/// <summary>TEST DOUBLE of a runner without a GPU runtime: refuses the high profile.</summary>
public sealed class NoGpuProfilePolicy : Feather.Server.Publishing.IProfilePolicy
{
    public string? Refuse(string profile) =>
        profile == "high" ? "this server's Docker engine has no GPU runtime, so the high profile cannot run here" : null;
}

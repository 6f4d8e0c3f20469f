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
/// the step wait until released (or the server stops), "bad" gives invalid_input.
/// </summary>
public sealed class TestDoubleStepExecutor : IStepExecutor
{
    public ConcurrentQueue<StepExecutionRequest> Requests { get; } = new();
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<StepExecutionResult> ExecuteAsync(StepExecutionRequest request, CancellationToken ct)
    {
        Requests.Enqueue(request);
        var runtime = JsonNode.Parse(request.RequestJson)!;
        var text = runtime["responses"]!.ToJsonString();
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
        var result = new JsonObject { ["type"] = "result", ["status"] = "succeeded", ["outputs"] = outputs };
        return Result(StepOutcome.Succeeded, result.ToJsonString(), "ok");
    }

    private static StepExecutionResult Result(StepOutcome outcome, string json, string message) =>
        new(outcome, JsonDocument.Parse(json).RootElement.Clone(), "a log line\n", message, TimeSpan.FromMilliseconds(3));
}

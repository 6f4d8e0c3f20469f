using System.Formats.Tar;
using System.IO.Pipelines;
using System.Text.Json;

namespace Feather.Server.Sandbox;

/// <summary>
/// The step's file area (<see cref="SandboxParameters.FilesDirectory"/>, a volume of the step's container): input
/// files go in as one tar stream through the engine's archive API (PUT), written as it is sent, and output files
/// come out one tar stream each (GET), read as they arrive. Neither side holds a whole file.
/// </summary>
public static class StepFileArea
{
    /// <summary>The runner image's label naming the newest runtime protocol its SDK speaks (absent: 1).</summary>
    public const string ProtocolLabel = "org.feather.runtime.protocol";

    /// <summary>
    /// The protocol-2 request as a runtime from before step files reads it (protocol 1): no file area, every
    /// <c>{"name", "media_type", "path": "in/…"}</c> replaced by the file's bytes inline
    /// (<c>"data": base64</c>). Such a runtime needs the bytes in its JSON; the server's limits bound them.
    /// Its outputs come back inline and are stored as files of the run like any other.
    /// </summary>
    public static async Task<string> ToProtocol1Async(string requestJson, IReadOnlyList<StepInputFile> inputs, CancellationToken ct)
    {
        var request = System.Text.Json.Nodes.JsonNode.Parse(requestJson)!.AsObject();
        request["protocol"] = 1;
        request.Remove("files");
        var pending = new List<(System.Text.Json.Nodes.JsonObject Node, StepInputFile File)>();
        Find(request["responses"]);
        Find(request["previous"]);
        foreach (var (node, file) in pending)
        {
            await using var data = file.Open();
            using var buffer = new MemoryStream();
            await data.CopyToAsync(buffer, ct);
            node.Remove("path");
            node.Remove("size");
            node["data"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        return request.ToJsonString();

        void Find(System.Text.Json.Nodes.JsonNode? node)
        {
            switch (node)
            {
                case System.Text.Json.Nodes.JsonObject o:
                    if (o["path"] is System.Text.Json.Nodes.JsonValue p && p.TryGetValue<string>(out var path) &&
                        inputs.FirstOrDefault(i => i.Path == path) is { } file)
                        pending.Add((o, file));
                    else
                        foreach (var (_, child) in o) Find(child);
                    break;
                case System.Text.Json.Nodes.JsonArray a:
                    foreach (var child in a) Find(child);
                    break;
            }
        }
    }

    /// <summary>The sandbox user (uid and gid 10001) owns <c>in/</c>, <c>out/</c> and the input files.</summary>
    private const int SandboxId = 10001;

    /// <summary>Puts <c>in/</c> (with <paramref name="inputs"/>) and an empty <c>out/</c> into the container's file area.</summary>
    public static async Task DeliverAsync(IContainerEngine engine, string containerId, IReadOnlyList<StepInputFile> inputs, CancellationToken ct)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
        var writing = WriteTarAsync(pipe.Writer, inputs, ct);
        try
        {
            await using var tar = pipe.Reader.AsStream();
            await engine.PutArchiveAsync(containerId, SandboxParameters.FilesDirectory, tar, ct);
        }
        finally
        {
            // a failed PUT leaves the writer blocked on a full pipe: completing the reader releases it
            await pipe.Reader.CompleteAsync();
            try { await writing; } catch (Exception) when (ct.IsCancellationRequested) { }
        }
    }

    private static async Task WriteTarAsync(PipeWriter writer, IReadOnlyList<StepInputFile> inputs, CancellationToken ct)
    {
        await Task.Yield();
        Exception? failure = null;
        try
        {
            await using var stream = writer.AsStream(leaveOpen: true);
            await using var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true);
            foreach (var dir in new[] { "in/", "out/" })
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, dir)
                {
                    Uid = SandboxId, Gid = SandboxId,
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                           UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute,
                    ModificationTime = DateTimeOffset.UtcNow,
                }, ct);
            foreach (var file in inputs)
            {
                await using var data = file.Open();
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, file.Path)
                {
                    Uid = SandboxId, Gid = SandboxId,
                    Mode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = DateTimeOffset.UtcNow,
                    DataStream = data,
                }, ct);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            failure = e; // the reader went away (the PUT failed): its error is the one reported
        }
        await writer.CompleteAsync(failure);
    }

    /// <summary>
    /// Lets <paramref name="transfer"/> read the files a succeeded result names; a refused file turns the result into
    /// a failed step with the refusal's message.
    /// </summary>
    public static Task<StepExecutionResult> CollectAsync(IContainerEngine engine, string containerId, StepFileTransfer transfer,
        StepExecutionResult result, JsonElement line, CancellationToken ct) =>
        CollectWithAsync(new Source(engine, containerId), transfer, result, line, ct);

    private static async Task<StepExecutionResult> CollectWithAsync(IStepFileSource source, StepFileTransfer transfer,
        StepExecutionResult result, JsonElement line, CancellationToken ct)
    {
        try
        {
            var kept = await transfer.CollectOutputs(line, source, ct);
            return result with { Result = kept };
        }
        catch (StepFileRefusedException e)
        {
            using var failed = JsonDocument.Parse(JsonSerializer.Serialize(new
            {
                type = "result", status = "failed", error = new { type = e.Type, message = e.Message, frames = Array.Empty<object>() },
            }));
            return result with { Outcome = StepOutcome.Failed, Result = failed.RootElement.Clone(), Message = $"{e.Type}: {e.Message}" };
        }
    }

    /// <summary>
    /// As <see cref="CollectAsync"/> for a step with no file area (swarm mode): its runtime answered a protocol 1
    /// request, so its output files are inline and are stored as files of the run; a path is refused.
    /// </summary>
    public static Task<StepExecutionResult> CollectInlineAsync(StepFileTransfer transfer, StepExecutionResult result, JsonElement line,
        CancellationToken ct) => CollectWithAsync(new NoFileArea(), transfer, result, line, ct);

    private sealed class NoFileArea : IStepFileSource
    {
        public Task<T> ReadAsync<T>(string path, Func<Stream, long, Task<T>> write, CancellationToken ct) =>
            throw new InvalidDataException($"the step named the output file '{path}', but it has no file area (its files travel inline)");
    }

    private sealed class Source(IContainerEngine engine, string containerId) : IStepFileSource
    {
        public async Task<T> ReadAsync<T>(string path, Func<Stream, long, Task<T>> write, CancellationToken ct)
        {
            Stream archive;
            try
            {
                archive = await engine.GetArchiveAsync(containerId, $"{SandboxParameters.FilesDirectory}/{path}", ct);
            }
            catch (ContainerNotFoundException)
            {
                throw new InvalidDataException($"the step named the output file '{path}', which it did not write");
            }
            await using (archive)
            {
                await using var tar = new TarReader(archive, leaveOpen: true);
                var entry = await tar.GetNextEntryAsync(copyData: false, ct);
                if (entry is null || entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                    throw new InvalidDataException($"the output file '{path}' is not a regular file");
                var data = entry.DataStream ?? Stream.Null;
                return await write(data, entry.Length);
            }
        }
    }
}

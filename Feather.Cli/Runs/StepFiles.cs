using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Cli.Publishing;
using Feather.Contracts;

namespace Feather.Cli.Runs;

/// <summary>
/// Step files for <c>feather run</c> (docs/cli.md, "Files"): a response names a local file as
/// <c>{"path": "weights.pt"}</c> (relative to the inputs file; <c>name</c> and <c>media_type</c> optional); each is
/// checked against the server's limits, streamed into the run (<c>POST /api/runs/{id}/files</c>, never read whole)
/// and replaced by the server's reference. Output files are downloaded, streamed to disk, with <c>--download DIR</c>.
/// </summary>
public sealed class StepFiles(FeatherApi api, TextWriter progress, bool terminal)
{
    private LimitsView? _limits;

    /// <summary>Uploads the local files <paramref name="responses"/> names and answers the responses with references.</summary>
    public async Task<JsonObject> UploadAsync(string runId, int index, JsonObject responses, string baseDirectory, CancellationToken ct)
    {
        var locals = new List<(JsonObject Node, string Path, long Size)>();
        Find(responses, node =>
        {
            if (node["path"] is not JsonValue p || p.GetValueKind() != System.Text.Json.JsonValueKind.String || node["data"] is not null || node["file"] is not null)
                return;
            var given = p.GetValue<string>();
            var full = Path.GetFullPath(Path.Combine(baseDirectory, given));
            if (!File.Exists(full))
                throw new CliException(ExitCodes.ValidationFailed, $"step {index}: the file {given} does not exist", "give a path relative to the inputs file");
            locals.Add((node, full, new System.IO.FileInfo(full).Length));
        });
        if (locals.Count == 0) return responses;
        _limits ??= await api.GetAsync<LimitsView>(Routes.Limits, ct);
        foreach (var (_, path, size) in locals.Where(l => l.Size > _limits.MaxStepFileBytes))
            throw new CliException(ExitCodes.ValidationFailed,
                $"step {index}: {path} has {Format.Bytes(size)}, more than {Format.Bytes(_limits.MaxStepFileBytes)}, the most a step file may have on this server (maxStepFileBytes)",
                "ask the server's operator to raise FEATHER_MAX_STEP_FILE_BYTES, or send a smaller file");
        if (locals.Sum(l => l.Size) is var total && total > _limits.MaxStepBytes)
            throw new CliException(ExitCodes.ValidationFailed,
                $"step {index}: its files add up to {Format.Bytes(total)}, more than {Format.Bytes(_limits.MaxStepBytes)}, the most one step may take on this server (maxStepBytes)",
                "send fewer or smaller files, or ask the server's operator to raise FEATHER_MAX_STEP_BYTES");
        foreach (var (node, path, size) in locals)
        {
            var name = node["name"]?.GetValue<string>() ?? Path.GetFileName(path);
            var mediaType = node["media_type"]?.GetValue<string>() ?? MediaType(path);
            var bar = new FileProgress(progress, terminal, name, size);
            await bar.StartAsync(1);
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using var body = new ProgressStream(file, bar.Report);
            var answer = await api.SendForStatusAsync(HttpMethod.Post,
                Routes.WithQuery(Routes.Expand(Routes.RunFiles, runId), ("name", name)), null, ct, TimeSpan.FromHours(24), request =>
                {
                    request.Content = new StreamContent(body, 1 << 16);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                    request.Content.Headers.ContentLength = size;
                });
            await bar.DoneAsync();
            node.Clear();
            node["name"] = name;
            node["media_type"] = mediaType;
            node["file"] = answer.Body?["id"]?.GetValue<string>();
        }
        return responses;
    }

    /// <summary>Downloads every file <paramref name="outputs"/> names into <paramref name="directory"/>; answers the paths written.</summary>
    public async Task<IReadOnlyList<string>> DownloadAsync(JsonNode? outputs, string directory, CancellationToken ct)
    {
        var files = new List<JsonObject>();
        Find(outputs, node =>
        {
            if (node["file"] is JsonValue && node["url"] is JsonValue && node["name"] is JsonValue) files.Add(node);
        });
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (var file in files)
        {
            var name = Path.GetFileName(Format.Str(file, "name").Replace('\\', '/'));
            if (name is "" or "." or "..") name = Format.Str(file, "file");
            var target = Path.Combine(directory, name);
            for (var i = 2; written.Contains(target); i++)
                target = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(name)}-{i}{Path.GetExtension(name)}");
            var size = file["size"] is JsonValue s && s.TryGetValue<long>(out var n) ? n : 0;
            var bar = new FileProgress(progress, terminal, name, size, "downloading", "downloaded");
            await bar.StartAsync(1);
            using var request = new HttpRequestMessage(HttpMethod.Get, api.Resolve(Format.Str(file, "url")));
            if (api.Settings.Token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Settings.Token);
            using var response = await api.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
                throw api.ErrorFor(response.StatusCode, await response.Content.ReadAsStringAsync(ct), HttpMethod.Get, Format.Str(file, "url"));
            await using (var source = await response.Content.ReadAsStreamAsync(ct))
            await using (var counted = new ProgressStream(source, bar.Report))
            await using (var sink = new FileStream(target + ".part", FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                await counted.CopyToAsync(sink, 1 << 16, ct);
            File.Move(target + ".part", target, overwrite: true);
            await bar.DoneAsync();
            written.Add(target);
        }
        return written;
    }

    private static void Find(JsonNode? node, Action<JsonObject> visit)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["name"] is not null || o["path"] is not null) visit(o);
                foreach (var (_, child) in o.ToList()) Find(child, visit);
                break;
            case JsonArray a:
                foreach (var child in a.ToList()) Find(child, visit);
                break;
        }
    }

    private static string MediaType(string path) => InteractivePrompter.MediaTypeOf(path);
}

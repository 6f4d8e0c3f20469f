using System.Text.Json;
using System.Text.RegularExpressions;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;

namespace Feather.Server.Runs;

/// <summary>One file of a run: an input a client uploaded, or an output a step gave.</summary>
/// <param name="Id">Random hex; names the file in the run's folder and in URLs.</param>
public sealed record RunFile(string Id, string RunId, string Name, string MediaType, long Size, DateTime CreatedAt);

/// <summary>Why a file was not stored.</summary>
public sealed class StepFileTooLargeException(string limit, string message) : Exception(message)
{
    /// <summary><c>maxStepFileBytes</c> or <c>maxStepBytes</c>.</summary>
    public string Limit { get; } = limit;
}

/// <summary>
/// The files of runs, at <c>$FEATHER_DATA/run-files/&lt;runId&gt;/&lt;fileId&gt;</c> with a small JSON
/// sidecar (name, media type, size). Every file is written from a stream with a byte limit checked as it
/// arrives, and read as a stream: nothing holds a whole file in memory.
/// </summary>
public sealed partial class RunFileStore(FeatherOptions options)
{
    private readonly string _root = Directory.CreateDirectory(options.RunFilesDirectory).FullName;

    /// <summary>
    /// Streams <paramref name="body"/> into a new file of the run; throws <see cref="StepFileTooLargeException"/>
    /// (nothing kept) past <paramref name="maxBytes"/>, which names <paramref name="limit"/>.
    /// </summary>
    public async Task<RunFile> SaveAsync(string runId, string name, string? mediaType, Stream body, long maxBytes, string limit,
        CancellationToken ct)
    {
        var id = Ids.New();
        var dir = SafePath.Combine(_root, Check(runId));
        Directory.CreateDirectory(dir);
        var path = SafePath.Combine(dir, id);
        long total = 0;
        try
        {
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    total += read;
                    if (total > maxBytes)
                        throw new StepFileTooLargeException(limit,
                            $"'{name}' is larger than {Bytes(maxBytes)}, the most a step file may have ({LimitKey(limit)})");
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
            }
            var record = new RunFile(id, runId, CleanName(name), CleanMediaType(mediaType, name), total, DateTime.UtcNow);
            await File.WriteAllTextAsync(path + ".json", JsonSerializer.Serialize(record), ct);
            return record;
        }
        catch
        {
            TryDelete(path);
            throw;
        }
    }

    /// <summary>The file <paramref name="fileId"/> of the run, or null (also for ids that are not ours).</summary>
    public RunFile? Find(string runId, string fileId)
    {
        if (!IsId(fileId) || !IsId(runId)) return null;
        var meta = Path.Combine(_root, runId, fileId + ".json");
        if (!File.Exists(meta)) return null;
        var record = JsonSerializer.Deserialize<RunFile>(File.ReadAllText(meta));
        return record is not null && record.RunId == runId && record.Id == fileId ? record : null;
    }

    public Stream OpenRead(RunFile file) =>
        new FileStream(SafePath.Combine(_root, Check(file.RunId), Check(file.Id)), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
            FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Every file of the run (its sidecars), oldest first.</summary>
    public IReadOnlyList<RunFile> List(string runId)
    {
        if (!IsId(runId)) return [];
        var dir = Path.Combine(_root, runId);
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.json")
            .Select(meta => Find(runId, Path.GetFileNameWithoutExtension(meta)))
            .OfType<RunFile>().OrderBy(f => f.CreatedAt).ToList();
    }

    /// <summary>
    /// The bytes of the run's files that no step names yet (uploaded, not submitted): bounded by
    /// FEATHER_MAX_STEP_BYTES, so a client cannot fill the disk with uploads it never uses.
    /// </summary>
    public long PendingBytes(RunRecord run) =>
        List(run.Id).Where(f => !run.Steps.Any(s => Names(s.ResponsesJson, f.Id) || Names(s.OutputsJson, f.Id))).Sum(f => f.Size);

    private static bool Names(string? json, string id) => json is not null && json.Contains($"\"file\":\"{id}\"", StringComparison.Ordinal);

    /// <summary>Removes every file of a run.</summary>
    public void DeleteRun(string runId)
    {
        if (!IsId(runId)) return;
        var dir = Path.Combine(_root, runId);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    public static bool IsId(string id) => IdPattern().IsMatch(id);

    private static string Check(string id) =>
        IsId(id) ? id : throw new UnsafePathException($"'{id}' is not a run or file id");

    /// <summary>The name without folders or control characters (a file name is shown, never used as a path).</summary>
    public static string CleanName(string name)
    {
        var last = name.Replace('\\', '/').Split('/').LastOrDefault(p => p.Length > 0) ?? "";
        var clean = new string(last.Where(c => !char.IsControl(c)).ToArray()).Trim();
        if (clean.Length > 255) clean = clean[..255];
        return clean is "" or "." or ".." ? "file" : clean;
    }

    /// <summary>The media type as given when it looks like one (type/subtype), else a guess from the name's extension.</summary>
    public static string CleanMediaType(string? mediaType, string name)
    {
        var given = mediaType?.Split(';')[0].Trim().ToLowerInvariant();
        if (given is { Length: > 0 and <= 127 } && MediaTypePattern().IsMatch(given) && given != "application/x-www-form-urlencoded")
            return given;
        return new Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider().TryGetContentType(name, out var guessed)
            ? guessed : "application/octet-stream";
    }

    public static string LimitKey(string limit) => limit == "maxStepBytes" ? "FEATHER_MAX_STEP_BYTES" : "FEATHER_MAX_STEP_FILE_BYTES";

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 when n % (1L << 30) == 0 => $"{n >> 30} GiB",
        >= 1L << 20 when n % (1L << 20) == 0 => $"{n >> 20} MiB",
        >= 1L << 10 when n % (1L << 10) == 0 => $"{n >> 10} KiB",
        _ => $"{n} bytes",
    };

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex("^[0-9a-f]{8,64}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")]
    private static partial Regex MediaTypePattern();
}

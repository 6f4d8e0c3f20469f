using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Output;
using Feather.Cli.Publishing;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather publish [DIR]</c>: inspect with the SDK, hash the bundle, start a publish, upload what the server
/// lacks, complete, and report the new version (contracts.md section 5).
/// </summary>
public static class PublishCommand
{
    public static readonly Argument<string> Directory = new("DIR")
    {
        Description = "The model directory (holding model.py), or the model file itself",
        DefaultValueFactory = _ => ".",
    };
    public static readonly Option<string?> Notes = new("--notes") { Description = "Release notes for this version" };
    public static readonly Option<string?> Tag = new("--tag") { Description = "Also tag the new version, e.g. stable (moves the tag if it exists)" };
    public static readonly Option<string?> Visibility = new("--visibility") { Description = "Who can see and run the model: private, unlisted or public" };
    public static readonly Option<string?> Owner = new("--owner") { Description = "Publish under this team (default: you)" };
    public static readonly Option<bool> NoPromote = new("--no-promote")
    {
        Description = "Publish without going live: the model's live version, description, tags and visibility stay as they are until 'feather versions promote'",
    };
    public static readonly Option<bool> Wait = new("--wait") { Description = "Follow the image build until it is ready or failed" };
    public static readonly Option<bool> DryRun = new("--dry-run") { Description = "Inspect and hash, show what would be uploaded, upload nothing" };
    public static readonly Option<bool> Rehash = new("--rehash")
    {
        Description = "Hash every file again instead of trusting the cache of large files' hashes (by path, size and modification time)",
    };

    /// <summary>Files uploaded at the same time (each on its own connection); the server hashes each as it arrives.</summary>
    public const int ParallelUploads = 2;

    /// <summary>
    /// The longest pause between two questions about the build. For the first <see cref="QuickBuildPolls"/> the CLI
    /// asks every <see cref="FirstBuildPoll"/>: a code-only version builds in a quarter of a second, and a question
    /// costs the server about a millisecond; then the pauses grow by a quarter each time.
    /// </summary>
    public static readonly TimeSpan BuildPollInterval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan FirstBuildPoll = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan QuickBuildPolls = TimeSpan.FromSeconds(2);

    public static Command Create(CliEnvironment env)
    {
        Visibility.AcceptOnlyFromAmong("private", "unlisted", "public");
        var command = new Command("publish", "Publish the model in DIR as a new version") { Directory, Notes, Tag, Visibility, Owner, NoPromote, Wait, DryRun, Rehash };
        CommandContext.Bind(command, env, HandleAsync);
        return command;
    }

    private static async Task<ExitCodes> HandleAsync(CommandContext context, ParseResult parse, CancellationToken ct)
    {
        var given = parse.GetValue(Directory)!;
        var full = Path.GetFullPath(given);
        var root = File.Exists(full) ? Path.GetDirectoryName(full)! : full;
        if (!System.IO.Directory.Exists(root))
            throw new CliException(ExitCodes.Usage, $"{given} is not a directory", "give the directory that holds model.py");

        var api = context.Api;
        if (!parse.GetValue(DryRun)) api.RequireLogin();

        context.Info.WriteLine($"inspecting {given} ...");
        var metadata = await new ModelInspector(context.Env).InspectAsync(full, ct);
        var cache = parse.GetValue(Rehash) ? HashCache.None() : HashCache.Load(Path.Combine(Config.ConfigPaths.CacheDirectory(context.Env), "hashes.json"));
        // a real publish leaves large new files to the server to hash as they arrive (one read of them, not two)
        var files = await BundleManifest.BuildAsync(root, metadata, ct, cache, serverHashes: !parse.GetValue(DryRun));
        var name = Format.Str(metadata, "name");

        context.Info.WriteLine($"model {name}: {files.Count} file(s), {Format.Bytes(files.Sum(f => f.Size))}");
        Table.Write(context.Info, ["FILE", "KIND", "SIZE", "SHA-256"],
            files.Select(f => (IReadOnlyList<string>)[f.Path, f.Kind, Format.Bytes(f.Size), f.Sha256?[..12] ?? "(on upload)"]));

        if (parse.GetValue(DryRun))
        {
            if (context.Json)
                JsonOutput.Write(context.Out, new JsonObject { ["dryRun"] = true, ["metadata"] = metadata.DeepClone(), ["files"] = JsonSerializer.SerializeToNode(files, Json.Options) });
            else context.Out.WriteLine("dry run: nothing uploaded");
            return ExitCodes.Ok;
        }

        var start = new JsonObject
        {
            ["owner"] = parse.GetValue(Owner),
            ["metadata"] = metadata.DeepClone(),
            ["files"] = JsonSerializer.SerializeToNode(files, Json.Options),
            ["notes"] = parse.GetValue(Notes),
            ["visibility"] = parse.GetValue(Visibility),
            ["promote"] = !parse.GetValue(NoPromote),
        };
        var started = await api.PostAsync("api/publish", start, ct)
            ?? throw new CliException(ExitCodes.Error, "the server answered POST /api/publish with no body");
        var publishId = Format.Str(started, "publishId");
        if (publishId.Length == 0) throw new CliException(ExitCodes.Error, "the server's publish answer has no publishId");

        var skipped = (started["alreadyStored"] as JsonArray ?? []).Select(p => p?.ToString() ?? "").ToList();
        foreach (var path in skipped) context.Info.WriteLine($"{path}: already stored, skipped");

        var terminal = context.Env.ErrIsTerminal && !context.Json;
        var uploader = new Uploader(api.Http, context.Err, terminal);
        var byPath = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var uploads = new List<(BundleFile File, Uri Url)>();
        foreach (var upload in started["uploads"] as JsonArray ?? [])
        {
            var path = Format.Str(upload, "path");
            if (!byPath.TryGetValue(path, out var file))
                throw new CliException(ExitCodes.Error, $"the server asked for '{path}', which is not in the bundle");
            uploads.Add((file, api.Resolve(Format.Str(upload, "url"))));
        }
        // Several files at once where their progress is printed as lines; one at a time under a terminal's progress bar.
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = terminal ? 1 : ParallelUploads, CancellationToken = ct };
        await Parallel.ForEachAsync(uploads.OrderByDescending(u => u.File.Size), parallel, async (u, token) =>
        {
            var stored = await uploader.UploadAsync(u.File, u.Url, token);
            if (u.File.Sha256 is not null) return;
            if (stored is null)
                throw new CliException(ExitCodes.UploadFailed, $"the server did not say which SHA-256 it stored {u.File.Path} under ({Uploader.Sha256Header})",
                    "the server may be older than this CLI; upgrade it, or use a matching CLI");
            BundleManifest.Remember(u.File, stored, cache);
        });
        cache.Save();
        var uploaded = new JsonArray(uploads.Select(u => (JsonNode)u.File.Path!).ToArray());

        var completed = await api.PostAsync($"api/publish/{Uri.EscapeDataString(publishId)}/complete", null, ct)
            ?? throw new CliException(ExitCodes.Error, "the server answered the publish completion with no body");
        var owner = Format.Str(completed, "owner");
        var model = Format.Str(completed, "model", name);
        var version = completed["version"] as JsonObject ?? [];
        var number = Format.Str(version, "number");
        var modelRef = new ModelRef(owner, model, null);
        var url = Format.Str(completed, "url") is { Length: > 0 } u ? api.Resolve(u).ToString() : "";

        if (parse.GetValue(Tag) is { } tag)
        {
            await api.PutAsync($"{modelRef.ApiPath}/tags/{Uri.EscapeDataString(tag)}", new Feather.Contracts.VersionChoice(number), ct);
            context.Info.WriteLine($"tagged version {number} as {tag}");
        }

        context.Info.WriteLine($"published {owner}/{model} version {number}");
        if (parse.GetValue(NoPromote))
            context.Info.WriteLine($"  not live: make it live with 'feather versions promote {owner}/{model} {number}'");
        if (url.Length > 0) context.Info.WriteLine($"  url:   {url}");
        context.Info.WriteLine($"  image: {Format.Str(version, "imageStatus", "unknown")}");
        context.Info.WriteLine($"  {uploaded.Count} file(s) uploaded, {skipped.Count} already stored");

        var exit = ExitCodes.Ok;
        if (parse.GetValue(Wait))
        {
            var (status, final) = await WaitForBuildAsync(context, api, modelRef, number, Format.Str(version, "imageStatus"), ct);
            version = final;
            if (status == "failed") exit = ExitCodes.BuildFailed;
        }

        if (context.Json)
        {
            var result = completed.DeepClone().AsObject();
            result["version"] = version.DeepClone();
            result["url"] = url;
            result["uploaded"] = uploaded;
            result["alreadyStored"] = new JsonArray(skipped.Select(s => (JsonNode)s!).ToArray());
            result["tag"] = parse.GetValue(Tag);
            JsonOutput.Write(context.Out, result);
        }
        return exit;
    }

    public static bool IsBuildFinished(string status) => status is "ready" or "failed";

    private static async Task<(string Status, JsonObject Version)> WaitForBuildAsync(CommandContext context, FeatherApi api, ModelRef model,
        string number, string status, CancellationToken ct)
    {
        var path = $"{model.ApiPath}/versions/{Uri.EscapeDataString(number)}";
        JsonObject version = [];
        var last = status;
        var pause = FirstBuildPoll;
        var waited = Stopwatch.StartNew();
        while (!IsBuildFinished(status))
        {
            await Task.Delay(pause, ct);
            if (waited.Elapsed >= QuickBuildPolls) pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 5 / 4, BuildPollInterval.Ticks));
            version = await api.GetAsync(path, ct) as JsonObject ?? [];
            status = Format.Str(version["image"] as JsonObject ?? [], "status", "unknown");
            if (status != last) context.Info.WriteLine($"  image: {status}");
            last = status;
        }
        if (version.Count == 0) version = await api.GetAsync(path, ct) as JsonObject ?? [];
        if (status == "failed")
        {
            context.Err.WriteLine($"error: the image build of {model} version {number} failed");
            var image = version["image"] as JsonObject ?? [];
            if (Format.Str(image, "error") is { Length: > 0 } why) context.Err.WriteLine(why);
            if (Format.Str(image, "log") is { Length: > 0 } log)
                foreach (var line in log.Split('\n').TakeLast(30)) context.Err.WriteLine($"  | {line}");
            context.Err.WriteLine(BuildFailureHint(Format.Str(image, "log")));
        }
        return (status, version);
    }

    /// <summary>
    /// What to do about a failed image build: the environment (packages) when its build failed, else the
    /// version's files (the environment was built or reused and adding the model's files failed).
    /// </summary>
    public static string BuildFailureHint(string? log) =>
        log is not null && log.Contains("building version image ", StringComparison.Ordinal)
            ? "hint: the environment is fine; adding the model's files to the image failed (see the error above): "
              + "check the files' sizes against the server's limits and that the server has disk space, then publish again"
            : "hint: fix the environment (system_packages / python_packages) and publish again";
}

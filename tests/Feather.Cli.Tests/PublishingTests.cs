using System.Diagnostics;
using System.Text.Json.Nodes;
using Feather.Cli.Publishing;

namespace Feather.Cli.Tests;

public class PublishingTests
{
    [Theory]
    [InlineData("../outside.py", "outside the model directory")]
    [InlineData("sub/../../outside.py", "outside the model directory")]
    [InlineData("/etc/passwd", "absolute paths are not allowed")]
    [InlineData("~/x.py", "absolute paths are not allowed")]
    [InlineData("sub\\x.py", "forward slashes")]
    [InlineData("", "empty")]
    [InlineData("a\0b", "NUL")]
    public void Paths_escaping_the_model_directory_are_refused(string path, string why)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<CliException>(() => BundlePaths.Resolve(dir.Path, path));
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Symbolic_links_out_of_the_model_directory_are_refused_but_inner_ones_are_fine()
    {
        using var outside = new TempDir();
        using var dir = new TempDir();
        outside.File("secret.txt", "s");
        dir.File("real/weights.bin", "w");
        File.CreateSymbolicLink(Path.Combine(dir.Path, "leak.txt"), Path.Combine(outside.Path, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(dir.Path, "linkdir"), outside.Path);
        File.CreateSymbolicLink(Path.Combine(dir.Path, "inner.bin"), Path.Combine(dir.Path, "real/weights.bin"));

        Assert.Contains("symbolic link", Assert.Throws<CliException>(() => BundlePaths.Resolve(dir.Path, "leak.txt")).Message);
        Assert.Contains("symbolic link", Assert.Throws<CliException>(() => BundlePaths.Resolve(dir.Path, "linkdir/secret.txt")).Message);
        Assert.Equal("inner.bin", BundlePaths.Resolve(dir.Path, "inner.bin").RelativePath);
        Assert.Equal("real/weights.bin", BundlePaths.Resolve(dir.Path, "./real//weights.bin").RelativePath);
    }

    [Fact]
    public async Task Manifest_hashes_and_sizes_every_bundle_file_with_relative_paths()
    {
        using var dir = new TempDir();
        dir.File("model.py", "abc");
        dir.File("weights/w.bin", "");
        var metadata = JsonNode.Parse("""{"bundle": {"code": ["model.py", "model.py"], "model": ["weights/w.bin"]}}""")!;
        var files = await BundleManifest.BuildAsync(dir.Path, metadata, default);
        Assert.Equal(2, files.Count);
        Assert.Equal(("model.py", 3L, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "code"), (files[0].Path, files[0].Size, files[0].Sha256, files[0].Kind));
        Assert.Equal(("weights/w.bin", 0L, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "model"), (files[1].Path, files[1].Size, files[1].Sha256, files[1].Kind));
    }

    [Fact]
    public async Task Large_files_hashes_are_remembered_by_path_size_and_modification_time()
    {
        using var dir = new TempDir();
        using var cacheDir = new TempDir();
        var cacheFile = Path.Combine(cacheDir.Path, "feather", "hashes.json");
        dir.File("model.py", "abc");
        var weights = Path.Combine(dir.Path, "w.bin");
        var bytes = new byte[HashCache.MinBytes + 1];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(weights, bytes);
        var metadata = JsonNode.Parse("""{"bundle": {"code": ["model.py"], "model": ["w.bin"]}}""")!;
        var first = await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile));
        var original = first.Single(f => f.Path == "w.bin").Sha256;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), original);
        Assert.True(File.Exists(cacheFile));
        Assert.DoesNotContain("model.py", File.ReadAllText(cacheFile)); // small files are hashed every time

        // same size, modification time put back: the cache answers without reading (so it gives the old hash) ...
        var written = File.GetLastWriteTimeUtc(weights);
        bytes[0] ^= 0xff;
        File.WriteAllBytes(weights, bytes);
        File.SetLastWriteTimeUtc(weights, written);
        var cached = await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile));
        Assert.Equal(original, cached.Single(f => f.Path == "w.bin").Sha256);
        // ... which --rehash (no cache) does not trust
        var fresh = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        Assert.Equal(fresh, (await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.None())).Single(f => f.Path == "w.bin").Sha256);
        // a new modification time reads the file again
        File.SetLastWriteTimeUtc(weights, written.AddSeconds(1));
        Assert.Equal(fresh, (await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile))).Single(f => f.Path == "w.bin").Sha256);
        // a corrupt cache file is an empty cache
        File.WriteAllText(cacheFile, "{not json");
        Assert.Equal(fresh, (await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile))).Single(f => f.Path == "w.bin").Sha256);
    }

    [Fact]
    public async Task A_real_publish_leaves_large_unknown_files_to_the_server_to_hash_and_remembers_what_it_answers()
    {
        using var dir = new TempDir();
        using var cacheDir = new TempDir();
        var cacheFile = Path.Combine(cacheDir.Path, "feather", "hashes.json");
        dir.File("model.py", "abc");
        var weights = Path.Combine(dir.Path, "w.bin");
        var bytes = new byte[HashCache.MinBytes + 1];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(weights, bytes);
        var metadata = JsonNode.Parse("""{"bundle": {"code": ["model.py"], "model": ["w.bin"]}}""")!;

        var files = await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile), serverHashes: true);
        var large = files.Single(f => f.Path == "w.bin");
        Assert.Null(large.Sha256); // not read at all
        Assert.Equal(File.GetLastWriteTimeUtc(weights), large.Modified);
        Assert.NotNull(files.Single(f => f.Path == "model.py").Sha256); // small files are hashed here
        Assert.Contains("\"sha256\":null", System.Text.Json.JsonSerializer.Serialize(large, Json.Options)); // the contract requires the key

        // the hash the server answers is kept for the next publish, which then names the file by it
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var cache = HashCache.Load(cacheFile);
        Assert.Equal(sha, BundleManifest.Remember(large, sha, cache).Sha256);
        cache.Save();
        var next = await BundleManifest.BuildAsync(dir.Path, metadata, default, HashCache.Load(cacheFile), serverHashes: true);
        Assert.Equal(sha, next.Single(f => f.Path == "w.bin").Sha256);

        // a file that changed while it was uploaded is an error, and nothing is remembered for it
        File.SetLastWriteTimeUtc(weights, large.Modified!.Value.AddSeconds(1));
        var changed = Assert.Throws<CliException>(() => BundleManifest.Remember(large, sha, HashCache.None()));
        Assert.Contains("changed while it was uploaded", changed.Message);
    }

    [Theory]
    [InlineData("""{"bundle": {"code": ["missing.py"]}}""", "does not exist")]
    [InlineData("""{"bundle": {"code": ["model.py"], "model": ["model.py"]}}""", "both as code and as a model file")]
    [InlineData("""{"bundle": {"code": []}}""", "lists no files")]
    [InlineData("""{"name": "x"}""", "no \"bundle\"")]
    [InlineData("""{"bundle": {"code": [3]}}""", "not a path")]
    public async Task Bad_bundles_are_refused_with_the_reason(string metadata, string why)
    {
        using var dir = new TempDir();
        dir.File("model.py", "x");
        var e = await Assert.ThrowsAsync<CliException>(() => BundleManifest.BuildAsync(dir.Path, JsonNode.Parse(metadata)!, default));
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Embedded_sdk_holds_exactly_the_python_sdk_files_of_the_repository()
    {
        var sdkRoot = Path.GetFullPath(Path.Combine(RepoRoot(), "python-sdk", "feather"));
        var onDisk = Directory.Exists(sdkRoot)
            ? Directory.EnumerateFiles(sdkRoot, "*", SearchOption.AllDirectories)
                .Where(f => (f.EndsWith(".py") || f.EndsWith(".json")) && !f.Contains("__pycache__"))
                .Select(f => "feather/" + Path.GetRelativePath(sdkRoot, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList()
            : [];
        var embedded = EmbeddedSdk.Load(typeof(EmbeddedSdk).Assembly).Select(f => f.RelativePath).ToList();
        Assert.Equal(onDisk, embedded);
    }

    [Fact]
    public void Embedded_sdk_extracts_once_to_a_hash_named_directory_that_python_can_import()
    {
        using var cache = new TempDir();
        IReadOnlyList<SdkFile> files =
        [
            new("feather/__init__.py", "from feather.components import greeting\n"u8.ToArray()),
            new("feather/components/__init__.py", "greeting = 'hi from the embedded sdk'\n"u8.ToArray()),
            new("feather/schema/metadata.schema.json", "{}"u8.ToArray()),
        ];
        var target = EmbeddedSdk.Extract(files, cache.Path);
        Assert.Equal(Path.Combine(cache.Path, "sdk-" + EmbeddedSdk.Hash(files)), target);
        Assert.True(File.Exists(Path.Combine(target, "feather/schema/metadata.schema.json")));

        var start = new ProcessStartInfo("/usr/bin/python3", ["-c", "import feather; print(feather.greeting)"]) { RedirectStandardOutput = true };
        start.Environment["PYTHONPATH"] = target;
        using var python = Process.Start(start)!;
        Assert.Equal("hi from the embedded sdk", python.StandardOutput.ReadToEnd().Trim());
        python.WaitForExit();

        File.WriteAllText(Path.Combine(target, "feather/__init__.py"), "marker = 1\n");
        Assert.Equal(target, EmbeddedSdk.Extract(files, cache.Path));
        Assert.Equal("marker = 1\n", File.ReadAllText(Path.Combine(target, "feather/__init__.py")));   // not rewritten: extracted once
        Assert.Single(Directory.GetDirectories(cache.Path));

        IReadOnlyList<SdkFile> changed = [.. files.Take(2), new("feather/extra.py", "x = 2\n"u8.ToArray())];
        Assert.NotEqual(target, EmbeddedSdk.Extract(changed, cache.Path));
    }

    [Fact]
    public void An_empty_embedded_sdk_tells_the_user_how_to_provide_one()
    {
        using var cache = new TempDir();
        var e = Assert.Throws<CliException>(() => EmbeddedSdk.Extract([], cache.Path));
        Assert.Contains("FEATHER_PYTHON", e.Hint);
    }

    [Fact]
    public void Embedded_sdk_refuses_resource_paths_that_escape_the_extraction_directory()
    {
        using var cache = new TempDir();
        Assert.Throws<CliException>(() => EmbeddedSdk.Extract([new("../evil.py", [1])], cache.Path));
        Assert.False(File.Exists(Path.Combine(cache.Path, "evil.py")));
    }

    [Fact]
    public async Task Progress_stream_reports_every_byte_read()
    {
        var reports = new List<long>();
        await using var stream = new ProgressStream(new MemoryStream(new byte[100_000]), reports.Add);
        await stream.CopyToAsync(Stream.Null, 30_000);
        Assert.Equal(100_000, stream.BytesRead);
        Assert.Equal(100_000, reports.Max());
    }

    [Fact]
    public async Task On_a_terminal_the_progress_bar_shows_bytes_percentage_rate_and_time_left()
    {
        var output = new StringWriter();
        var progress = new FileProgress(output, terminal: true, "weights.bin", 10 * 1024 * 1024);
        await progress.StartAsync(1);
        progress.Report(5 * 1024 * 1024);
        await Task.Delay(150); // past the redraw interval, so the half-way state is drawn
        progress.Report(5 * 1024 * 1024 + 1);
        var halfway = Plain(output.ToString());
        Assert.Contains("weights.bin", halfway);
        Assert.Contains("50%", halfway);
        Assert.Matches(@"5\.0/10\.0 MiB", halfway);
        Assert.Matches(@"\d+(\.\d)? [KMG]?i?B/s", halfway);   // the rate
        Assert.Matches(@"\d\d:\d\d:\d\d", halfway);            // the time left
        await progress.DoneAsync();
        var done = Plain(output.ToString());
        Assert.Contains("100%", done);
        Assert.Contains("10.0 MiB", done);
        Assert.Contains("\u001b[", output.ToString()); // redrawn in place with ANSI sequences
    }

    [Fact]
    public async Task A_resumed_uploads_bar_counts_only_the_bytes_sent_in_this_run()
    {
        // 8 MiB were on the server already: the bar covers the last 2 MiB, its rate only what this attempt sent
        var output = new StringWriter();
        var progress = new FileProgress(output, terminal: true, "weights.bin", 10 * 1024 * 1024);
        await progress.StartAsync(2, from: 8 * 1024 * 1024);
        progress.Report(9 * 1024 * 1024);
        await Task.Delay(150);
        progress.Report(9 * 1024 * 1024 + 1);
        var text = Plain(output.ToString());
        Assert.Contains("weights.bin (from 8.0 MiB)", text);
        Assert.Contains("50%", text);
        Assert.Matches(@"1\.0/2\.0 MiB", text);
        await progress.DoneAsync();
    }

    [Fact]
    public async Task Off_a_terminal_progress_is_one_line_at_the_start_and_one_at_the_end()
    {
        var output = new StringWriter();
        var progress = new FileProgress(output, terminal: false, "weights.bin", 3 * 1024 * 1024);
        await progress.StartAsync(1, from: 1024 * 1024);
        progress.Report(2 * 1024 * 1024);
        await progress.DoneAsync();
        var lines = output.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal("resuming weights.bin at 1.0 MiB of 3.0 MiB (the server has those bytes)", lines[0]);
        Assert.StartsWith("uploaded weights.bin (2.0 MiB sent, 1.0 MiB resumed in ", lines[1]);
        Assert.DoesNotContain("\u001b", output.ToString());
    }

    /// <summary>The text of a terminal transcript without its ANSI escape sequences.</summary>
    private static string Plain(string ansi) => System.Text.RegularExpressions.Regex.Replace(ansi, @"\u001b\[[0-9;?]*[A-Za-z]|\u001b\]8;[^\u001b]*\u001b\\", "");

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}

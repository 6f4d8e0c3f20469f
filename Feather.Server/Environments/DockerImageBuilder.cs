using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Feather.Server.Blobs;
using Feather.Server.Sandbox;
using Microsoft.Extensions.Options;

namespace Feather.Server.Environments;

/// <summary>
/// Builds feather-env:&lt;hash16&gt; once per environment spec (per-hash lock; skipped when the image exists)
/// and feather-version:&lt;model&gt;-&lt;n&gt; on top with the version's files from the blob store, through the
/// Docker build API with a generated Dockerfile and a tar context streamed from the blob store.
/// </summary>
public sealed partial class DockerImageBuilder(
    IContainerEngine engine,
    IBlobStore blobs,
    IOptions<RunnerOptions> options,
    ILogger<DockerImageBuilder> logger) : IImageBuilder
{
    public const string EnvHashLabel = "org.feather.env-hash";
    public const string ModelLabel = "org.feather.model";
    public const string VersionLabel = "org.feather.version";
    public const string KindLabel = "org.feather.image";
    public const string RunnerImageLabel = "org.feather.runner-image";

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _envLocks = new();

    public async Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var text = new BuildLog(options.Value.MaxBuildLogBytes);
        string? runnerId = null;
        void Log(string line)
        {
            text.Append(line);
            log?.Report(line);
        }
        ImageBuildResult Fail(string env, string version, string error)
        {
            Log("error: " + error);
            LogBuildFailed(request.ModelId, request.VersionNumber, error);
            return new ImageBuildResult(ImageBuildOutcome.Failed, env, version, text.ToString(), clock.Elapsed, error, runnerId);
        }

        var specError = EnvironmentHash.Validate(request.Environment);
        if (specError is not null) return Fail("", "", specError);
        if (request.VersionNumber < 1) return Fail("", "", $"version number must be at least 1 (got {request.VersionNumber})");
        if (string.IsNullOrWhiteSpace(request.ModelId)) return Fail("", "", "model id is empty");
        foreach (var f in request.Files)
            if (BuildContext.CheckPath(f.Path) is { } pathError) return Fail("", "", pathError);
        var duplicate = request.Files.GroupBy(f => f.Path, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) return Fail("", "", $"file path '{duplicate.Key}' appears more than once");

        if (request.Environment.PythonPackages.Count > 0 && string.IsNullOrEmpty(options.Value.WheelhouseUrl) && string.IsNullOrEmpty(options.Value.PythonIndexUrl))
            return Fail("", "", $"the model needs Python packages ({string.Join(", ", EnvironmentHash.Normalise(request.Environment.PythonPackages))}) "
                + "but this server has no package source for builds: the administrator sets Runner:WheelhouseUrl (a wheelhouse) "
                + "or Runner:PythonIndexUrl (a package index); builds never reach PyPI unless it is named there");

        var versionImage = VersionImageTag(request.ModelId, request.VersionNumber);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(options.Value.BuildTimeoutSeconds));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        var token = linked.Token;
        string envImage = "";
        try
        {
            var runner = await engine.FindImageAsync(request.Environment.RunnerImage, token);
            if (runner is null && IsImageId(request.Environment.RunnerImage))
                return Fail("", versionImage, $"the runner image {request.Environment.RunnerImage} this version was first built on is no longer "
                    + "on the Docker engine; a version is rebuilt only from its own runner image, so publish the model again to build it on the current runner");
            if (runner is null)
                return Fail("", versionImage, $"runner image {request.Environment.RunnerImage} not found on the Docker engine (build it with images/runner/build.sh)");
            runnerId = runner;
            Log($"runner image {request.Environment.RunnerImage} is {runner}");
            var hash = EnvironmentHash.Compute(request.Environment, runner);
            envImage = EnvironmentHash.ImageTag(hash);

            var envError = await EnsureEnvironmentAsync(request.Environment, runner, hash, envImage, Log, token);
            if (envError is not null) return Fail(envImage, versionImage, envError);

            Log($"building version image {versionImage}");
            var files = request.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var weights = request.Files.Where(f => f.Size >= BuildContext.WeightsLayerMinBytes).ToList();
            var baseImage = envImage;
            var weightsHash = "";
            var mounted = weights.Count > 0 && options.Value.MountsWeights;
            if (mounted)
            {
                foreach (var f in weights)
                    if (!await blobs.ExistsAsync(f.Sha256, token))
                        return Fail(envImage, versionImage, $"a file of the version is missing from the blob store: {f.Path} ({f.Sha256[..12]}…)");
                // Runner:Weights=mount: the weights stay in the blob store and every container of this version gets
                // them bound read-only (Sandbox/VersionWeights.cs); the image holds the code only.
                Log($"{weights.Count} weights file(s) of 1 MiB or more, {Bytes(weights.Sum(f => f.Size))}, stay in the blob store: "
                    + "each step gets them read-only under /model (Runner:Weights=mount)");
            }
            else if (weights.Count > 0)
            {
                weightsHash = WeightsHash(hash, weights);
                baseImage = WeightsImageTag(weightsHash);
                var weightsError = await EnsureWeightsAsync(weights, hash, weightsHash, envImage, baseImage, Log, token);
                if (weightsError is not null) return Fail(envImage, versionImage, weightsError);
            }
            var labels = new Dictionary<string, string>
            {
                [SandboxParameters.ManagedLabel] = "true",
                [SandboxParameters.OwnerLabel] = options.Value.InstanceId,
                [KindLabel] = "version",
                [EnvHashLabel] = hash,
                [WeightsHashLabel] = weightsHash,
                [ModelLabel] = request.ModelId,
                [VersionLabel] = request.VersionNumber.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (mounted)
                labels[VersionWeights.MountsLabel] = VersionWeights.Describe(weights.Select(f => new WeightFile(f.Path, f.Sha256)));
            var code = request.Files.Where(f => f.Size < BuildContext.WeightsLayerMinBytes).Select(f => f.Path).ToList();
            var error = await MakeVersionImageAsync(versionImage, baseImage, labels, code,
                async (path, c) => await blobs.OpenReadAsync(files[path].Sha256, c), Log, token);
            RunnerMetrics.ImageBuilds.WithLabels("version", error is null ? "ready" : "failed").Inc();
            if (error is not null) return Fail(envImage, versionImage, error);
            Log($"version image {versionImage} ready");
            return new ImageBuildResult(ImageBuildOutcome.Ready, envImage, versionImage, text.ToString(), clock.Elapsed, null, runnerId);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return Fail(envImage, versionImage, $"the image build took longer than {options.Value.BuildTimeoutSeconds} s and was stopped "
                + "(the limit is Runner:BuildTimeoutSeconds)");
        }
        catch (FileNotFoundException e)
        {
            return Fail(envImage, versionImage, $"a file of the version is missing from the blob store: {e.Message}");
        }
        catch (ContainerEngineException e)
        {
            return Fail(envImage, versionImage, $"the Docker engine refused the build: {e.Detail.Trim()}");
        }
    }

    public const string WeightsHashLabel = "org.feather.weights-hash";

    /// <summary>After this many loads refused in a row the builder stops trying and builds version images with a Dockerfile.</summary>
    public const int RefusalsBeforeBuild = 3;

    /// <summary>Loads the engine refused in a row (reset by one it takes).</summary>
    private int _loadRefusals;

    /// <summary>
    /// Makes the version image: <paramref name="baseImage"/>, one layer of <paramref name="code"/> under /model, and
    /// <paramref name="labels"/>. Loaded into the engine as an archive (Environments/VersionImageArchive.cs: no
    /// intermediate container, about 0.1 s against 0.25 s for the build), or built with a Dockerfile where that
    /// fails: for this version when the archive could not be made or checked, and for good once the engine has
    /// refused <see cref="RefusalsBeforeBuild"/> archives in a row (an engine that wants every layer in one). A file
    /// missing from the blob store fails the version either way. Null on success, else the error.
    /// </summary>
    private async Task<string?> MakeVersionImageAsync(string versionImage, string baseImage, Dictionary<string, string> labels,
        List<string> code, BuildContext.OpenFile open, Action<string> log, CancellationToken ct)
    {
        if (Volatile.Read(ref _loadRefusals) < RefusalsBeforeBuild)
        {
            try
            {
                await LoadVersionImageAsync(versionImage, baseImage, labels, code, open, log, ct);
                Interlocked.Exchange(ref _loadRefusals, 0);
                return null;
            }
            catch (ArchiveRefusedException e)
            {
                log($"the engine did not take the version image as an archive ({e.Detail}); building it with a Dockerfile instead");
                if (Interlocked.Increment(ref _loadRefusals) == RefusalsBeforeBuild) LogLoadRefused(RefusalsBeforeBuild, e.Detail);
            }
            catch (Exception e) when (e is ContainerEngineException or UnauthorizedAccessException
                                      || (e is IOException && e is not FileNotFoundException and not DirectoryNotFoundException))
            {
                var reason = e is ContainerEngineException { Detail: { Length: > 0 } d } ? d.Trim() : e.Message;
                log($"the version image could not be made as an archive ({reason}); building it with a Dockerfile instead");
            }
        }
        return await BuildImageAsync(versionImage, new Dictionary<string, string>(),
            (stream, c) => BuildContext.WriteVersionContextAsync(stream, BuildContext.VersionDockerfile(baseImage) + BuildContext.LabelInstruction(labels), code, open, c),
            "none", log, ct);
    }

    /// <summary>The engine refused the archive of a version image, or made another image of it.</summary>
    private sealed class ArchiveRefusedException(string message, string detail, Exception? inner = null) : ContainerEngineException(message, detail, inner);

    /// <summary>Code layers are written to the temporary directory under this prefix (ones a crash left behind are removed).</summary>
    private const string LayerFilePrefix = "feather-layer-";

    private int _sweptLayerFiles;

    /// <summary>
    /// Writes the code layer to a temporary file (its SHA-256 names it in the image's configuration, which comes first
    /// in the archive), then streams the archive to the engine and checks that the engine made the image asked for.
    /// </summary>
    private async Task LoadVersionImageAsync(string versionImage, string baseImage, IReadOnlyDictionary<string, string> labels,
        List<string> code, BuildContext.OpenFile open, Action<string> log, CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _sweptLayerFiles, 1) == 0) SweepLayerFiles();
        var baseConfig = await engine.ImageConfigAsync(baseImage, ct)
            ?? throw new ContainerEngineException($"{baseImage} is not on the engine", $"{baseImage} is not on the engine");
        await using var layer = new FileStream(Path.Combine(Path.GetTempPath(), $"{LayerFilePrefix}{Guid.NewGuid():N}.tar"), FileMode.CreateNew,
            FileAccess.ReadWrite, FileShare.None, 64 * 1024, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        await BuildContext.WriteCodeLayerAsync(layer, code, open, ct);
        layer.Position = 0;
        var diffId = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(layer, ct));
        layer.Position = 0;
        var configuration = VersionImageArchive.Configuration(baseConfig, labels, diffId, DateTime.UtcNow);
        var id = VersionImageArchive.ImageId(configuration);
        try
        {
            await StreamContextAsync((stream, c) => VersionImageArchive.WriteAsync(stream, versionImage, configuration, baseConfig.DiffIds, diffId, layer, c),
                archive => engine.LoadImagesAsync(archive, ct), ct);
        }
        catch (ContainerEngineException e)
        {
            throw new ArchiveRefusedException(e.Message, (e.Detail is { Length: > 0 } d ? d : e.Message).Trim(), e);
        }
        // the tag names this very image: its id is the hash of the configuration, which names every layer
        var made = await engine.FindImageAsync(versionImage, ct);
        if (made != id)
        {
            if (made is not null)
                try { await engine.RemoveImageAsync(versionImage, CancellationToken.None); } catch (ContainerEngineException) { }
            throw new ArchiveRefusedException($"the engine loaded {versionImage} as another image", $"{versionImage} came out as {made ?? "nothing"}, not {id}");
        }
        log($"version image {versionImage}: {baseImage} and a layer of {code.Count} code file(s), loaded as {id[..19]}");
    }

    /// <summary>Removes code layer files older than an hour from the temporary directory (left by a server that crashed mid-load).</summary>
    private static void SweepLayerFiles()
    {
        try
        {
            foreach (var file in new DirectoryInfo(Path.GetTempPath()).EnumerateFiles(LayerFilePrefix + "*.tar"))
                if (file.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1))
                    try { file.Delete(); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// The hash of a weights image: the environment's hash and every large file's path and content. Two versions
    /// of any model with the same environment and the same large files share one weights image.
    /// </summary>
    public static string WeightsHash(string envHash, IEnumerable<VersionFile> weights)
    {
        var text = new StringBuilder("feather-weights/1\n").Append(envHash).Append('\n');
        foreach (var f in weights.OrderBy(f => f.Path, StringComparer.Ordinal))
            text.Append(f.Path).Append('\0').Append(f.Sha256).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>feather-weights:&lt;first 16 hex of the weights hash&gt;.</summary>
    public static string WeightsImageTag(string weightsHash) => $"feather-weights:{weightsHash[..16]}";

    /// <summary>
    /// Builds the weights image (the environment plus the version's large files under /model) unless it exists.
    /// A version that changes only code builds on it again and sends the engine none of its weights. Null on success, else the error.
    /// </summary>
    private async Task<string?> EnsureWeightsAsync(List<VersionFile> weights, string envHash, string weightsHash, string envImage,
        string weightsImage, Action<string> log, CancellationToken ct)
    {
        var gate = _envLocks.GetOrAdd("weights:" + weightsHash, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var size = Bytes(weights.Sum(f => f.Size));
            if (await engine.FindImageAsync(weightsImage, ct) is not null)
            {
                log($"weights image {weightsImage} ({weights.Count} file(s), {size}) already built; reusing it");
                RunnerMetrics.ImageBuilds.WithLabels("weights", "reused").Inc();
                return null;
            }
            log($"building weights image {weightsImage}: {weights.Count} file(s) of 1 MiB or more, {size}");
            var labels = new Dictionary<string, string>
            {
                [SandboxParameters.ManagedLabel] = "true",
                [SandboxParameters.OwnerLabel] = options.Value.InstanceId,
                [KindLabel] = "weights",
                [EnvHashLabel] = envHash,
                [WeightsHashLabel] = weightsHash,
            };
            var byPath = weights.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var all = byPath.Keys.ToHashSet(StringComparer.Ordinal);
            var error = await BuildImageAsync(weightsImage, new Dictionary<string, string>(),
                (stream, c) => BuildContext.WriteVersionContextAsync(stream, BuildContext.WeightsDockerfile(envImage) + BuildContext.LabelInstruction(labels), all,
                    async (path, c2) => await blobs.OpenReadAsync(byPath[path].Sha256, c2), c, all),
                "none", log, ct);
            RunnerMetrics.ImageBuilds.WithLabels("weights", error is null ? "ready" : "failed").Inc();
            if (error is null) log($"weights image {weightsImage} ready");
            return error;
        }
        finally
        {
            gate.Release();
        }
    }

    private static string Bytes(long n) => n >= 1L << 30 ? $"{n / (double)(1L << 30):0.0} GiB" : $"{n / (double)(1 << 20):0.0} MiB";

    /// <summary>The version image reference. The model id is lowercased and made tag-safe; a changed id gets a short hash suffix.</summary>
    public static string VersionImageTag(string modelId, int version)
    {
        var safe = TagUnsafe().Replace(modelId.ToLowerInvariant(), "-").Trim('-', '.');
        if (safe != modelId || safe.Length == 0)
            safe = (safe.Length > 0 ? safe + "-" : "") + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(modelId)))[..8];
        if (safe.Length > 100) safe = safe[..100];
        return $"feather-version:{safe}-{version}";
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*[A-Za-z]")]
    private static partial Regex AnsiEscape();

    [GeneratedRegex("[^a-z0-9_.-]+")]
    private static partial Regex TagUnsafe();

    /// <summary>A full image id (sha256:&lt;64 hex&gt;), as recorded on a version at its first build.</summary>
    public static bool IsImageId(string image) =>
        image.StartsWith("sha256:", StringComparison.Ordinal) && image.Length == 71 && image[7..].All(char.IsAsciiHexDigitLower);

    /// <summary>Hides the credentials of URLs (an index URL with a token, say) in build log lines.</summary>
    internal static string Redact(string line) => Credentials().Replace(line, "$1***@");

    [System.Text.RegularExpressions.GeneratedRegex(@"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'""]+@")]
    private static partial System.Text.RegularExpressions.Regex Credentials();

    /// <summary>Builds the environment image unless it exists. Null on success, else the error.</summary>
    private async Task<string?> EnsureEnvironmentAsync(EnvironmentSpec spec, string runnerId, string hash, string envImage, Action<string> log, CancellationToken ct)
    {
        var gate = _envLocks.GetOrAdd(hash, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (await engine.FindImageAsync(envImage, ct) is not null)
            {
                log($"environment image {envImage} already built; reusing it");
                RunnerMetrics.ImageBuilds.WithLabels("environment", "reused").Inc();
                return null;
            }
            var o = options.Value;
            // FROM the runner's id, not its tag: the image hashed is the image built on, even if the tag moves meanwhile
            var dockerfile = BuildContext.EnvironmentDockerfile(runnerId, spec, o.PythonIndexUrl, o.WheelhouseUrl);
            log($"building environment image {envImage}");
            LogEnvBuild(envImage, spec.RunnerImage);
            var labels = new Dictionary<string, string>
            {
                [SandboxParameters.ManagedLabel] = "true",
                [SandboxParameters.OwnerLabel] = options.Value.InstanceId,
                [KindLabel] = "environment",
                [EnvHashLabel] = hash,
                [RunnerImageLabel] = runnerId,
            };
            // only a build that installs packages gets a network, and only the one configured for builds
            var network = spec.SystemPackages.Count + spec.PythonPackages.Count > 0 ? o.BuildNetwork : "none";
            var error = await BuildImageAsync(envImage, labels,
                (stream, c) => BuildContext.WriteDockerfileOnlyAsync(stream, dockerfile, c), network, log, ct);
            RunnerMetrics.ImageBuilds.WithLabels("environment", error is null ? "ready" : "failed").Inc();
            if (error is null) log($"environment image {envImage} ready");
            return error;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Streams a tar context to the build API and follows its JSON message stream. Null on success, else the error text.
    /// The context is never held whole: <paramref name="writeContext"/> writes it into a pipe of at most
    /// <see cref="ContextPipeBytes"/> while the engine reads the other end, so a version with gigabytes of weights
    /// costs the server a bounded buffer, not its size in memory.
    /// </summary>
    private async Task<string?> BuildImageAsync(string tag, IDictionary<string, string> labels,
        Func<Stream, CancellationToken, Task> writeContext, string network, Action<string> log, CancellationToken ct)
    {
        string? error = null;
        string? toolError = null; // the last line a tool marked as an error (apt's "E: ...", pip's "ERROR: ...")
        var partial = new StringBuilder();
        void Line(string l)
        {
            l = Redact(l);
            if (l.StartsWith("E: ", StringComparison.Ordinal) || l.StartsWith("ERROR: ", StringComparison.Ordinal)) toolError = l;
            log(l);
        }
        var progress = new SyncProgress<ImageBuildMessage>(m =>
        {
            if (m.Error is not null)
            {
                error ??= m.Error;
                return;
            }
            var chunk = m.Text;
            if (string.IsNullOrEmpty(chunk)) return;
            partial.Append(AnsiEscape().Replace(chunk, ""));
            var s = partial.ToString();
            var last = s.LastIndexOf('\n');
            if (last < 0) return;
            foreach (var line in s[..last].Split('\n'))
                if (line.TrimEnd() is { Length: > 0 } l) Line(l);
            partial.Clear().Append(s[(last + 1)..]);
        });
        // a build runs apt and pip as root: bound what it can take from the machine
        var spec = new ImageBuildSpec(tag, labels.AsReadOnly(), options.Value.BuildMemoryMiB * SandboxParameters.MiB, options.Value.BuildCpus, network);
        await StreamContextAsync(writeContext, context => engine.BuildImageAsync(spec, context, progress, ct), ct);
        if (partial.Length > 0 && partial.ToString().Trim() is { Length: > 0 } rest) Line(rest);
        if (error is not null && toolError is not null) error = $"{toolError} ({error})";
        if (error is null && await engine.FindImageAsync(tag, ct) is null)
            error = $"the build of {tag} ended without an image";
        return error;
    }

    /// <summary>The most bytes of a build context between the writer and the engine at any time.</summary>
    public const int ContextPipeBytes = 1024 * 1024;

    /// <summary>
    /// Runs <paramref name="consume"/> on the read end of a bounded pipe while <paramref name="produce"/> writes into
    /// it. The producer's failure (a blob gone from the store) is the one reported, not the reader's truncated
    /// stream; when the consumer stops early (the engine refused the build) the producer is stopped too.
    /// </summary>
    internal static async Task StreamContextAsync(Func<Stream, CancellationToken, Task> produce, Func<Stream, Task> consume, CancellationToken ct)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: ContextPipeBytes, resumeWriterThreshold: ContextPipeBytes / 2,
            minimumSegmentSize: 64 * 1024, useSynchronizationContext: false));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producer = Task.Run(async () =>
        {
            try
            {
                await using (var writer = pipe.Writer.AsStream(leaveOpen: true))
                    await produce(writer, stop.Token);
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, CancellationToken.None);
        Exception? consumerError = null;
        try
        {
            await using var reader = pipe.Reader.AsStream(leaveOpen: true);
            await consume(reader);
        }
        catch (Exception e)
        {
            consumerError = e;
        }
        // the engine has what it needs (or has given up): stop a producer still writing, then see how it ended
        await stop.CancelAsync();
        // completed with an error, the reader's end makes the writer's next write throw (else it would go on into nothing)
        await pipe.Reader.CompleteAsync(new OperationCanceledException("the engine stopped reading the build context"));
        await Task.WhenAny(producer, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
        if (producer.IsFaulted && producer.Exception!.InnerException is { } cause and not OperationCanceledException)
            ExceptionDispatchInfo.Throw(cause); // the context could not be written: that is the cause, whatever the engine made of the cut stream
        if (consumerError is not null) ExceptionDispatchInfo.Throw(consumerError);
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Reports synchronously, in order (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Building environment image {Image} from {Runner}")]
    private partial void LogEnvBuild(string image, string runner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Docker engine refused {Count} version images in a row as archives (the last: {Reason}); version images are built with a Dockerfile from now on")]
    private partial void LogLoadRefused(int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Image build for model {ModelId} version {Version} failed: {Error}")]
    private partial void LogBuildFailed(string modelId, int version, string error);
}

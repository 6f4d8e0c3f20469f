using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Feather.Server.Blobs;
using Feather.Server.Configuration;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>One weights file of a version: where the model finds it (relative to /model) and its blob.</summary>
public sealed record WeightFile(string Path, string Sha256);

/// <summary>A version's weights are not where its steps can be given them (the step fails with this message).</summary>
public sealed class WeightsUnavailableException(string message) : ContainerEngineException(message, message);

/// <summary>
/// Weights kept out of images (<see cref="RunnerOptions.Weights"/> = mount, the default in local mode). A version
/// image built that way names its large files in the label <see cref="MountsLabel"/>; every container made from it
/// (a step's, a warm or prepared one, an evaluation's or a fine-tune's) gets each file bound read-only at
/// /model/&lt;path&gt; straight from the blob store, where the publish put it. Nothing is copied: publishing builds
/// no weights layer, the weights exist once on disk, and a version that changes only code costs nothing.
/// The bind's source is a path on the Docker engine's machine: the blob's own path when the server runs there,
/// else (the server in a container, docker compose) the data directory's mount source, found by asking the engine
/// about the server's own container, or <see cref="RunnerOptions.HostDataDirectory"/> when set.
/// </summary>
/// <remarks>The blob store and the server's options are optional so that a runner wired without them (tests) still
/// runs images that hold their weights; an image that asks for mounts then fails with a clear message.</remarks>
public sealed partial class VersionWeights(IContainerEngine engine, IOptions<RunnerOptions> options, ILogger<VersionWeights> logger,
    IBlobStore? blobs = null, FeatherOptions? feather = null)
{
    /// <summary>The version image's label listing its mounted weights: a JSON array of {"path", "sha256"}.</summary>
    public const string MountsLabel = "org.feather.weights-mounts";

    /// <summary>Where a version's files are in its containers (the working directory of its steps).</summary>
    public const string ModelDirectory = "/model";

    private readonly ConcurrentDictionary<string, IReadOnlyList<WeightFile>> _byImage = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _hostGate = new(1, 1);
    private string? _hostData;

    // relaxed: '+' (allowed in paths) stays itself instead of \u002B, which a Dockerfile's quoting would not keep
    private static readonly JsonSerializerOptions LabelJson = new(JsonSerializerDefaults.Web) { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The <see cref="MountsLabel"/> value for <paramref name="files"/> (ordered by path).</summary>
    public static string Describe(IEnumerable<WeightFile> files) =>
        JsonSerializer.Serialize(files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList(), LabelJson);

    /// <summary>The files a <see cref="MountsLabel"/> value names; a value that is not such a list is refused.</summary>
    public static IReadOnlyList<WeightFile> Parse(string label)
    {
        List<WeightFile>? files;
        try
        {
            files = JsonSerializer.Deserialize<List<WeightFile>>(label, LabelJson);
        }
        catch (JsonException e)
        {
            throw new WeightsUnavailableException($"the image label {MountsLabel} is not a list of files: {e.Message}");
        }
        if (files is null) throw new WeightsUnavailableException($"the image label {MountsLabel} is empty");
        foreach (var f in files)
        {
            if (f is null || string.IsNullOrEmpty(f.Path) || Environments.BuildContext.CheckPath(f.Path) is not null || !SafePath.IsSha256(f.Sha256))
                throw new WeightsUnavailableException($"the image label {MountsLabel} names a file that is not a safe relative path with a SHA-256");
        }
        return files;
    }

    /// <summary>
    /// The read-only binds for a container of <paramref name="image"/>: none for an image that holds its weights (or
    /// has none). Throws <see cref="WeightsUnavailableException"/> when a file is gone from the blob store.
    /// </summary>
    public async Task<IReadOnlyList<EngineMount>> BindsAsync(string image, CancellationToken ct)
    {
        var files = await FilesAsync(image, ct);
        if (files.Count == 0) return [];
        if (blobs is null || feather is null)
            throw new WeightsUnavailableException($"{image} keeps its weights out of the image, and this runner has no blob store to mount them from");
        var host = await HostDataDirectoryAsync(ct);
        var data = Path.TrimEndingDirectorySeparator(feather.DataDirectory);
        var binds = new List<EngineMount>(files.Count);
        foreach (var file in files)
        {
            var local = blobs.LocalPath(file.Sha256)
                ?? throw new WeightsUnavailableException($"the weights file {file.Path} of this version (sha256 {file.Sha256[..12]}…) is not in the "
                    + "server's blob store, so its steps cannot be given it; publish the version again");
            EnsureReadable(local);
            var relative = Path.GetRelativePath(data, local);
            if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
                throw new WeightsUnavailableException($"the blob store ({Path.GetDirectoryName(local)}) is not inside the data directory {data}");
            binds.Add(new EngineMount(Path.Combine(host, relative), ModelDirectory + "/" + file.Path));
        }
        return binds;
    }

    /// <summary>The weights <paramref name="image"/> asks to have mounted (its label, read once per image).</summary>
    public async Task<IReadOnlyList<WeightFile>> FilesAsync(string image, CancellationToken ct)
    {
        if (_byImage.TryGetValue(image, out var known)) return known;
        var labels = await engine.ImageLabelsAsync(image, ct);
        if (labels is null) return []; // no such image: creating the container reports it
        var files = labels.TryGetValue(MountsLabel, out var label) && label.Length > 0 ? Parse(label) : [];
        if (_byImage.Count > 10_000) _byImage.Clear();
        return _byImage[image] = files;
    }

    /// <summary>The container runs as an unprivileged user: the blob must be readable by all (stored blobs are 0444).</summary>
    private static void EnsureReadable(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        try
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & UnixFileMode.OtherRead) == 0)
                File.SetUnixFileMode(path, mode | UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a store the server may not change (read-only): the bind is tried as it is, and the model says what it cannot read
        }
    }

    /// <summary>The data directory's path on the engine's machine (asked once, then remembered).</summary>
    public async Task<string> HostDataDirectoryAsync(CancellationToken ct)
    {
        if (_hostData is not null) return _hostData;
        await _hostGate.WaitAsync(ct);
        try
        {
            if (_hostData is not null) return _hostData;
            var data = Path.TrimEndingDirectorySeparator(feather?.DataDirectory ?? Path.GetFullPath("."));
            if (!string.IsNullOrEmpty(options.Value.HostDataDirectory))
                return _hostData = Path.TrimEndingDirectorySeparator(options.Value.HostDataDirectory);
            // The server may run in a container of this engine (docker compose): then its data directory is a volume or
            // a bind mount of that container, and the engine knows the path. Otherwise (the engine does not know the
            // container, or the server runs on the engine's machine) the paths are the same.
            var self = OwnContainerId();
            var mounts = self is null ? null : await engine.ContainerMountsAsync(self, ct);
            if (mounts is null) return _hostData = data;
            var mount = mounts.Where(m => m.Target.Length > 0 && (data == m.Target.TrimEnd('/') || data.StartsWith(m.Target.TrimEnd('/') + "/", StringComparison.Ordinal)))
                .OrderByDescending(m => m.Target.Length).FirstOrDefault()
                ?? throw new WeightsUnavailableException($"the server's data directory {data} is not on a volume or bind mount of its container, so steps "
                    + "cannot be given the weights from it; put it on a volume (docker-compose.yml does) or set Runner:HostDataDirectory");
            var host = Path.TrimEndingDirectorySeparator(mount.Source) + data[mount.Target.TrimEnd('/').Length..];
            LogHostData(data, host);
            return _hostData = host;
        }
        finally
        {
            _hostGate.Release();
        }
    }

    /// <summary>
    /// This process's container id, from the engine's bind of /etc/hostname in /proc/self/mountinfo; else the host
    /// name when it is a short container id (Docker's default); null when the process is not in a container.
    /// </summary>
    private static string? OwnContainerId()
    {
        try
        {
            if (ContainerIdFromMountInfo(File.ReadLines("/proc/self/mountinfo")) is { } id) return id;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return File.Exists("/.dockerenv") && ShortContainerId().IsMatch(Environment.MachineName) ? Environment.MachineName : null;
    }

    /// <summary>
    /// The container id in the engine's bind of a container's own /etc/hostname, /etc/hosts or /etc/resolv.conf: a
    /// mountinfo line whose mount point (5th field) is one of those and whose root (4th field) is the file under
    /// <c>/containers/&lt;id&gt;/</c>. Only the mount point tells this process's container apart: on the engine's own
    /// machine, mountinfo can also list other containers' files (a test server took another test's container for its
    /// own when only the root was matched).
    /// </summary>
    public static string? ContainerIdFromMountInfo(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[4] is "/etc/hostname" or "/etc/hosts" or "/etc/resolv.conf"
                && ContainerIdInMountInfo().Match(fields[3]) is { Success: true } m)
                return m.Groups[1].Value;
        }
        return null;
    }

    [GeneratedRegex("^[0-9a-f]{12}$")]
    private static partial Regex ShortContainerId();

    [GeneratedRegex("/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\\.conf)$")]
    private static partial Regex ContainerIdInMountInfo();

    [LoggerMessage(Level = LogLevel.Information, Message = "The data directory {Data} is {Host} on the Docker engine's machine (weights are mounted from there)")]
    private partial void LogHostData(string data, string host);
}

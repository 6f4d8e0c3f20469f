using System.Formats.Tar;
using System.Text;
using System.Text.RegularExpressions;

namespace Feather.Server.Environments;

/// <summary>Dockerfiles and tar build contexts for environment and version images. Pure except for the streams given.</summary>
public static partial class BuildContext
{
    /// <summary>The uid:gid steps run as (the runner image's user feather).</summary>
    public const string UnprivilegedUser = "10001:10001";

    /// <summary>
    /// The Dockerfile of an environment image: the runner plus system and Python packages.
    /// Only the package managers run as root: apt (Debian's packages from the configured mirror) and pip with
    /// wheels only and <c>--no-compile</c>, so no code of a Python package runs as root. pip is told to use only
    /// the configured source (<paramref name="wheelhouseUrl"/> with --no-index, else <paramref name="indexUrl"/>)
    /// and never PyPI by default. Everything after the install runs as the unprivileged user with isolated Python
    /// without site (<c>python3 -I -S</c>: no .pth file of a package runs during the build).
    /// The caller refuses a spec with Python packages when neither source is configured.
    /// </summary>
    public static string EnvironmentDockerfile(string runnerImage, EnvironmentSpec spec, string? indexUrl, string? wheelhouseUrl)
    {
        var system = EnvironmentHash.Normalise(spec.SystemPackages).ToList();
        var python = EnvironmentHash.Normalise(spec.PythonPackages);
        var sb = new StringBuilder();
        sb.Append("FROM ").Append(runnerImage).Append('\n');
        // Fail early with a clear message when the runner's Python is not the one the model declares.
        sb.Append("USER ").Append(UnprivilegedUser).Append('\n');
        sb.Append("RUN python3 -I -S -c 'import sys; v=\"%d.%d\" % sys.version_info[:2]; ")
          .Append("sys.exit(0 if v == \"").Append(spec.PythonVersion)
          .Append("\" else \"ERROR: the model needs Python ").Append(spec.PythonVersion)
          .Append(", the runner image has Python \" + v)'\n");
        sb.Append("USER root\n");
        if (system.Count > 0)
        {
            sb.Append("RUN export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y --no-install-recommends ")
              .Append(string.Join(' ', system)).Append(" && rm -rf /var/lib/apt/lists/*\n");
        }
        if (python.Length > 0)
        {
            sb.Append("RUN python3 -I -m pip --version >/dev/null 2>&1 || (export DEBIAN_FRONTEND=noninteractive && apt-get update ")
              .Append("&& apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*)\n");
            var url = !string.IsNullOrEmpty(wheelhouseUrl) ? wheelhouseUrl : indexUrl;
            // --no-index unless an index is configured: pip never falls back to PyPI.
            var source = !string.IsNullOrEmpty(wheelhouseUrl) ? $"--no-index --find-links '{wheelhouseUrl}'"
                : !string.IsNullOrEmpty(indexUrl) ? $"--index-url '{indexUrl}'"
                : "--no-index";
            // pip ignores a plain-http index or find-links host that is not localhost ("not a trusted or secure
            // host and is being ignored") and then reports every package as missing. The operator configured
            // this URL for the builds, so it is trusted explicitly.
            if (PlainHttpHost(url) is { } host) source += $" --trusted-host '{host}'";
            // Wheels only (a source package's setup.py would run as root) and --no-compile (pip's byte-compile
            // is done below as the user). --isolated: no pip configuration file or PIP_* variable adds a source.
            sb.Append("RUN python3 -I -m pip install --isolated --no-cache-dir --disable-pip-version-check --break-system-packages ")
              .Append("--only-binary=:all: --no-compile ")
              .Append(source).Append(' ')
              .Append(string.Join(' ', python.Select(p => $"'{p}'"))).Append('\n');
        }
        // The user owns one __pycache__ directory per package directory (mkdir and chown run no package code),
        // so the byte-compile below can run as the user.
        sb.Append("RUN find /opt/feather /usr/local/lib/python3*/dist-packages -name __pycache__ -prune -o -type d -print0 2>/dev/null ")
          .Append("| xargs -0 -r sh -c 'for d; do mkdir -p \"$d/__pycache__\" && chown -h ").Append(UnprivilegedUser)
          .Append(" \"$d/__pycache__\" || exit 1; done' sh\n");
        sb.Append("USER ").Append(UnprivilegedUser).Append('\n');
        // Byte-compile the SDK (PYTHONPATH) and the installed packages once here: the sandbox's root is
        // read-only and PYTHONDONTWRITEBYTECODE is set, so without this every step compiles them again
        // (about 0.1 s of a no-op step). The stdlib's Debian packages ship compiled already.
        sb.Append("RUN for d in /opt/feather /usr/local/lib/python3*/dist-packages; do [ -d \"$d\" ] || continue; ")
          .Append("python3 -I -S -m compileall -q -j 0 \"$d\" >/dev/null || exit 1; done\n");
        return sb.ToString();
    }

    /// <summary>host[:port] of an http:// URL (what pip's --trusted-host takes), else null.</summary>
    public static string? PlainHttpHost(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.Authority.Length > 0
            ? uri.Authority
            : null;

    /// <summary>Files of at least this size go into the version's weights image (see <see cref="WeightsDockerfile"/>).</summary>
    public const long WeightsLayerMinBytes = 1024 * 1024;

    /// <summary>
    /// The Dockerfile of a weights image: the environment plus a version's large files (context folder weights/)
    /// under /model. Version images with the same environment and large files are built FROM it, so a version
    /// that changes only code neither sends its weights to the engine nor adds a copy of them to its disk.
    /// </summary>
    public static string WeightsDockerfile(string environmentImage) =>
        $"FROM {environmentImage}\nCOPY weights/ /model/\n";

    /// <summary>The Dockerfile of a version image: its base (the environment, or the weights image) plus the version's other files under /model.</summary>
    public static string VersionDockerfile(string baseImage) =>
        $"FROM {baseImage}\nCOPY model/ /model/\n";

    /// <summary>
    /// One <c>LABEL</c> instruction for all of <paramref name="labels"/>. The build API's own labels parameter makes the
    /// classic builder add one LABEL step per label, each committing an intermediate container (about 0.3 s apiece):
    /// most of a code-only version's build. Keys and values are quoted; '"', '\' and '$' are escaped.
    /// </summary>
    public static string LabelInstruction(IEnumerable<KeyValuePair<string, string>> labels)
    {
        static string Quote(string text) =>
            text.Contains('\n') || text.Contains('\r')
                ? throw new ArgumentException($"a label may not hold a line break: {text}")
                : "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("$", "\\$") + "\"";
        var parts = labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{Quote(l.Key)}={Quote(l.Value)}").ToList();
        return parts.Count == 0 ? "" : "LABEL " + string.Join(' ', parts) + "\n";
    }

    /// <summary>Null when a file path may go under /model, else why not (absolute, .., odd characters).</summary>
    public static string? CheckPath(string path)
    {
        if (string.IsNullOrEmpty(path)) return "file path is empty";
        if (path.StartsWith('/') || path.Contains('\\') || path.Contains(':'))
            return $"file path '{path}' must be relative with '/' separators";
        if (path.Any(char.IsControl)) return $"file path '{path}' contains control characters";
        var segments = path.Split('/');
        if (segments.Any(s => s is "" or "." or ".."))
            return $"file path '{path}' must not contain empty, '.' or '..' segments";
        if (segments.Any(s => s.StartsWith(Publishing.ManifestPath.WhiteoutPrefix, StringComparison.Ordinal)))
            return $"file path '{path}' has a name starting with '{Publishing.ManifestPath.WhiteoutPrefix}', which image layers reserve for deleted files";
        if (!SafePath().IsMatch(path)) return $"file path '{path}' contains characters other than letters, digits, '.', '_', '-', ' ', '+', '@', '=' and '/'";
        return null;
    }

    [GeneratedRegex(@"^[A-Za-z0-9._\-/ +@=]+$")]
    private static partial Regex SafePath();

    /// <summary>Writes a tar build context holding only a Dockerfile.</summary>
    public static async Task WriteDockerfileOnlyAsync(Stream output, string dockerfile, CancellationToken ct)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteFileAsync(tar, "Dockerfile", new MemoryStream(Encoding.UTF8.GetBytes(dockerfile)), ct);
    }

    /// <summary>Opens a file's bytes by its path (for version contexts, read from the blob store); the stream must be seekable.</summary>
    public delegate Task<Stream> OpenFile(string path, CancellationToken ct);

    /// <summary>
    /// Writes a version image's context: Dockerfile + model/&lt;path&gt; for every file (weights/&lt;path&gt; for those
    /// in <paramref name="weights"/>), owned by root, readable by all. One file is open at a time and its bytes go
    /// straight to <paramref name="output"/> (a non-seekable pipe is fine).
    /// </summary>
    public static async Task WriteVersionContextAsync(Stream output, string dockerfile, IEnumerable<string> paths, OpenFile open, CancellationToken ct,
        IReadOnlySet<string>? weights = null)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteFileAsync(tar, "Dockerfile", new MemoryStream(Encoding.UTF8.GetBytes(dockerfile)), ct);
        await WriteTreeAsync(tar, paths, open, ct, weights);
    }

    /// <summary>
    /// Writes the layer of a version's code as the build's <c>COPY model/ /model/</c> would make it: model/ and
    /// model/&lt;path&gt; for every file, owned by root, readable by all (Environments/VersionImageArchive.cs).
    /// </summary>
    public static async Task WriteCodeLayerAsync(Stream output, IEnumerable<string> paths, OpenFile open, CancellationToken ct)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteTreeAsync(tar, paths, open, ct, weights: null);
    }

    private static async Task WriteTreeAsync(TarWriter tar, IEnumerable<string> paths, OpenFile open, CancellationToken ct, IReadOnlySet<string>? weights)
    {
        var dirs = new HashSet<string>(StringComparer.Ordinal) { "model" };
        await WriteDirAsync(tar, "model", ct);
        // the weights first: the build reads its layers' sources in the order of the Dockerfile anyway
        foreach (var path in paths.OrderBy(p => weights?.Contains(p) == true ? 0 : 1).ThenBy(p => p, StringComparer.Ordinal))
        {
            var root = weights?.Contains(path) == true ? "weights" : "model";
            var parts = (root + "/" + path).Split('/');
            for (var i = 1; i < parts.Length; i++)
            {
                var dir = string.Join('/', parts[..i]);
                if (dirs.Add(dir)) await WriteDirAsync(tar, dir, ct);
            }
            await using var content = await open(path, ct);
            await WriteFileAsync(tar, root + "/" + path, content, ct);
        }
    }

    private static async Task WriteDirAsync(TarWriter tar, string name, CancellationToken ct)
    {
        var entry = new PaxTarEntry(TarEntryType.Directory, name + "/")
        {
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute,
            Uid = 0, Gid = 0, ModificationTime = DateTimeOffset.UnixEpoch,
        };
        await tar.WriteEntryAsync(entry, ct);
    }

    private static async Task WriteFileAsync(TarWriter tar, string name, Stream content, CancellationToken ct)
    {
        // The tar header comes before the data and holds its length, and the context is streamed (never seeked
        // back): the content must know its length. Blobs are files; buffering one would hold a model in memory.
        if (!content.CanSeek)
            throw new ArgumentException($"the content of '{name}' must be seekable (its length goes into the tar header first)", nameof(content));
        var data = content;
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            Uid = 0, Gid = 0, ModificationTime = DateTimeOffset.UnixEpoch,
            DataStream = data,
        };
        await tar.WriteEntryAsync(entry, ct);
    }
}

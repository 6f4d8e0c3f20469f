using System.Reflection;
using System.Security.Cryptography;

namespace Feather.Cli.Publishing;

/// <summary>One file of the Python SDK carried inside the CLI, e.g. <c>feather/__init__.py</c>.</summary>
public sealed record SdkFile(string RelativePath, byte[] Content);

/// <summary>
/// The copy of <c>python-sdk/feather</c> embedded at build time (resources named <c>feather-sdk/feather/...</c>).
/// Extracted once per content hash to <c>~/.cache/feather/sdk-HASH/</c>, which then goes on PYTHONPATH.
/// </summary>
public static class EmbeddedSdk
{
    public const string ResourcePrefix = "feather-sdk/";

    public static IReadOnlyList<SdkFile> Load(Assembly assembly)
    {
        var files = new List<SdkFile>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            files.Add(new SdkFile(name[ResourcePrefix.Length..].Replace('\\', '/'), buffer.ToArray()));
        }
        return files;
    }

    /// <summary>A short hash over the paths and contents; a CLI with a different SDK gets a different directory.</summary>
    public static string Hash(IReadOnlyList<SdkFile> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in files.OrderBy(f => f.RelativePath, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(file.RelativePath + "\n" + file.Content.Length + "\n"));
            sha.AppendData(file.Content);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>
    /// Writes the files to <c>CACHE/sdk-HASH</c> unless a complete copy is there already, and returns that directory.
    /// Extraction goes to a temporary directory that is renamed into place, so a crash never leaves half an SDK.
    /// </summary>
    public static string Extract(IReadOnlyList<SdkFile> files, string cacheDirectory)
    {
        if (files.Count == 0)
            throw new CliException(ExitCodes.Error, "this build of the CLI carries no copy of the Feather Python SDK",
                "install the SDK for your python (e.g. PYTHONPATH=/path/to/feather/python-sdk) or set FEATHER_PYTHON to a python that can `import feather`");
        var target = Path.Combine(cacheDirectory, "sdk-" + Hash(files));
        if (File.Exists(Path.Combine(target, ".complete"))) return target;

        Directory.CreateDirectory(cacheDirectory);
        var staging = target + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(staging);
        try
        {
            foreach (var file in files)
            {
                var (full, _) = BundlePaths.Resolve(staging, file.RelativePath);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.WriteAllBytes(full, file.Content);
            }
            File.WriteAllText(Path.Combine(staging, ".complete"), Hash(files));
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            Directory.Move(staging, target);
        }
        catch (IOException) when (File.Exists(Path.Combine(target, ".complete")))
        {
            // another feather process extracted the same SDK at the same moment; theirs is as good as ours
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        return target;
    }
}

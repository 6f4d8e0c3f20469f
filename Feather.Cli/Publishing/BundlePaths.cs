namespace Feather.Cli.Publishing;

/// <summary>Keeps every bundle path inside the model directory: no absolute paths, no <c>..</c> escapes, no symlinks out.</summary>
public static class BundlePaths
{
    /// <summary>Returns the file's full path and its normalised relative path (forward slashes), or throws.</summary>
    public static (string FullPath, string RelativePath) Resolve(string root, string relative)
    {
        if (string.IsNullOrWhiteSpace(relative))
            throw Refuse(relative, "the path is empty");
        if (relative.Contains('\0'))
            throw Refuse(relative, "the path contains a NUL character");
        if (relative.Contains('\\'))
            throw Refuse(relative, "use forward slashes in bundle paths");
        if (Path.IsPathRooted(relative) || relative.StartsWith('~'))
            throw Refuse(relative, "absolute paths are not allowed; list files relative to the model directory");

        var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(Path.Combine(rootFull, relative));
        if (!IsInside(rootFull, full))
            throw Refuse(relative, "it points outside the model directory");

        // A symlink on the way (the file itself or a directory above it) must not lead out either.
        var realRoot = RealPath(rootFull);
        var current = rootFull;
        foreach (var part in Path.GetRelativePath(rootFull, full).Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is null) continue;
            var target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (target is null || !IsInside(realRoot, RealPath(target)))
                throw Refuse(relative, $"'{Path.GetRelativePath(rootFull, current)}' is a symbolic link that points outside the model directory");
        }
        return (full, Path.GetRelativePath(rootFull, full).Replace(Path.DirectorySeparatorChar, '/'));
    }

    private static bool IsInside(string root, string path) =>
        path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string RealPath(string path)
    {
        var info = new DirectoryInfo(path);
        return info.LinkTarget is not null ? info.ResolveLinkTarget(true)?.FullName ?? path : Path.GetFullPath(path);
    }

    private static CliException Refuse(string relative, string why) =>
        new(ExitCodes.ValidationFailed, $"refusing to upload bundle file '{relative}': {why}",
            "fix the paths given to ftr.bundle(...) in the model file");
}

namespace Feather.Server.Blobs;

public sealed class UnsafePathException(string message) : Exception(message);

/// <summary>
/// The traversal guard: every path the server builds under its data directory goes through
/// <see cref="Combine"/>. Segments are plain names from a small alphabet; anything that could
/// climb out (.., separators, NUL, percent-encodings, absolute or overlong names) is refused, and
/// the resolved path is checked to lie inside the root.
/// </summary>
public static class SafePath
{
    public const int MaxSegmentLength = 128;

    public static string Combine(string root, params string[] segments)
    {
        var fullRoot = Path.GetFullPath(root);
        foreach (var segment in segments)
            CheckSegment(segment);
        var full = Path.GetFullPath(Path.Combine([fullRoot, .. segments]));
        var rootWithSep = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSep, StringComparison.Ordinal))
            throw new UnsafePathException($"path '{string.Join('/', segments)}' resolves outside '{fullRoot}'");
        return full;
    }

    public static void CheckSegment(string segment)
    {
        if (string.IsNullOrEmpty(segment))
            throw new UnsafePathException("empty path segment");
        if (segment.Length > MaxSegmentLength)
            throw new UnsafePathException($"path segment is {segment.Length} characters long (at most {MaxSegmentLength})");
        if (segment is "." or "..")
            throw new UnsafePathException($"path segment '{segment}' is not allowed");
        foreach (var c in segment)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_' or '.';
            if (!ok)
                throw new UnsafePathException($"path segment contains the character U+{(int)c:X4}; only letters, digits, '-', '_' and '.' are allowed");
        }
    }

    public static bool IsSha256(string? value) =>
        value is { Length: 64 } && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
}

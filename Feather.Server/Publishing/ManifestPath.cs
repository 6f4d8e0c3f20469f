using System.Text;

namespace Feather.Server.Publishing;

/// <summary>
/// The rules for a file path in a publish manifest: relative, '/'-separated, inside the model's
/// folder. Paths never reach the server's file system (blobs are named by hash); these rules keep
/// them safe for the version image too.
/// </summary>
public static class ManifestPath
{
    public const int MaxLength = 512;
    public const int MaxSegment = 255;

    /// <summary>The prefix of whiteout entries in image layers (a file named so would delete, not add, a file).</summary>
    public const string WhiteoutPrefix = ".wh.";

    /// <summary>Returns null when <paramref name="path"/> is acceptable, else why not.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "the path is empty";
        if (path.Length > MaxLength) return $"the path is {path.Length} characters long (at most {MaxLength})";
        if (path.Contains('\0')) return "the path contains a NUL character";
        if (path.Any(char.IsControl)) return "the path contains a control character";
        if (path.Contains('\\')) return "the path contains a backslash; use '/' between folders";
        if (path.Contains('%')) return "the path contains '%'; percent-encoded paths are not accepted";
        if (path.StartsWith('/') || path.StartsWith('~')) return "the path is absolute; give it relative to the model folder";
        if (path.Length >= 2 && path[1] == ':') return "the path starts with a drive letter";
        if (!path.IsNormalized(NormalizationForm.FormC)) return "the path is not in Unicode normal form C";
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0) return "the path has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return $"the path has a '{segment}' segment; paths cannot leave the model folder";
            if (segment.Length > MaxSegment) return $"a segment of the path is longer than {MaxSegment} characters";
            if (segment.Any(c => c is ':' or '*' or '?' or '"' or '<' or '>' or '|'))
                return "the path contains one of : * ? \" < > |";
            if (segment.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                return $"a name in the path starts with '{WhiteoutPrefix}', which container image layers reserve for deleted files";
        }
        return null;
    }
}

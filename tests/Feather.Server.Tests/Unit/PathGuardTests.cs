using Feather.Server.Blobs;
using Feather.Server.Publishing;

namespace Feather.Server.Tests.Unit;

public class PathGuardTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "feather-guard-root");

    [Theory]
    [InlineData("..")]
    [InlineData("../etc")]
    [InlineData("/etc/passwd")]
    [InlineData("%2e%2e")]
    [InlineData("..%2f..%2fetc")]
    [InlineData("a\\..\\b")]
    [InlineData("a\0b")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("é")]
    public void SafePath_refuses_hostile_segments(string segment)
    {
        Assert.Throws<UnsafePathException>(() => SafePath.Combine(Root, segment));
    }

    [Fact]
    public void SafePath_refuses_overlong_names()
    {
        var e = Assert.Throws<UnsafePathException>(() => SafePath.Combine(Root, new string('a', 300)));
        Assert.Contains("300 characters", e.Message);
    }

    [Fact]
    public void SafePath_keeps_plain_names_inside_the_root()
    {
        var path = SafePath.Combine(Root, "ab", "cdef0123", "x.part");
        Assert.Equal(Path.Combine(Path.GetFullPath(Root), "ab", "cdef0123", "x.part"), path);
    }

    [Theory]
    [InlineData("../model.py", "'..'")]
    [InlineData("a/../../b", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("~/x", "absolute")]
    [InlineData("C:/x", "drive letter")]
    [InlineData("a\\..\\b", "backslash")]
    [InlineData("%2e%2e/x", "'%'")]
    [InlineData("a\0b", "NUL")]
    [InlineData("a//b", "empty segment")]
    [InlineData("./a", "'.'")]
    [InlineData("", "empty")]
    [InlineData(".wh.model.py", "'.wh.'")]
    [InlineData("weights/.wh..wh..opq", "reserve for deleted files")]
    public void Manifest_paths_cannot_escape(string path, string reason)
    {
        var problem = ManifestPath.Problem(path);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem);
    }

    [Fact]
    public void Manifest_paths_refuse_overlong_names() =>
        Assert.Contains("longer than", ManifestPath.Problem("a/" + new string('b', 300)));

    [Theory]
    [InlineData("model.py")]
    [InlineData("weights/layer 1.npz")]
    [InlineData("data/dé.txt")]
    [InlineData("cache/.wh")]
    public void Manifest_paths_accept_ordinary_relative_paths(string path) => Assert.Null(ManifestPath.Problem(path));

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("ABCDEF")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000/..")]
    public void Blob_names_must_be_sha256(string name)
    {
        var store = new FileSystemBlobStore(new Configuration.FeatherOptions { DataDirectory = Path.Combine(Root, "data") },
            Microsoft.Extensions.Logging.Abstractions.NullLogger<FileSystemBlobStore>.Instance);
        Assert.Throws<UnsafePathException>(() => store.BlobPath(name));
    }
}

using Feather.Server.Environments;

namespace Feather.Server.Tests.Environments;

public class EnvironmentHashTests
{
    private static EnvironmentSpec Spec(string[]? system = null, string[]? python = null, string profile = "low", string py = "3.11") =>
        new("feather-runner:latest", profile, py, system ?? ["python3-numpy", "libgomp1"], python ?? ["numpy==1.24.2", "pillow==9.4.0"]);

    [Fact]
    public void Package_order_and_duplicates_do_not_change_the_hash()
    {
        var a = EnvironmentHash.Compute(Spec(), "sha256:aaa");
        var b = EnvironmentHash.Compute(Spec(["libgomp1", "python3-numpy", "libgomp1"], ["pillow==9.4.0", " numpy==1.24.2"]), "sha256:aaa");
        Assert.Equal(a, b);
        Assert.Matches("^[0-9a-f]{64}$", a);
    }

    [Fact]
    public void Every_part_of_the_spec_and_the_runner_image_id_change_the_hash()
    {
        var baseline = EnvironmentHash.Compute(Spec(), "sha256:aaa");
        Assert.NotEqual(baseline, EnvironmentHash.Compute(Spec(), "sha256:bbb"));
        Assert.NotEqual(baseline, EnvironmentHash.Compute(Spec(profile: "medium"), "sha256:aaa"));
        Assert.NotEqual(baseline, EnvironmentHash.Compute(Spec(py: "3.12"), "sha256:aaa"));
        Assert.NotEqual(baseline, EnvironmentHash.Compute(Spec(system: ["python3-numpy"]), "sha256:aaa"));
        Assert.NotEqual(baseline, EnvironmentHash.Compute(Spec(python: ["numpy==1.24.3", "pillow==9.4.0"]), "sha256:aaa"));
        // a package moved between the lists is a different environment
        Assert.NotEqual(EnvironmentHash.Compute(Spec(["a1"], ["b1"]), "x"), EnvironmentHash.Compute(Spec(["b1"], ["a1"]), "x"));
    }

    [Fact]
    public void The_tag_uses_the_first_16_hex_digits()
    {
        var hash = EnvironmentHash.Compute(Spec(), "sha256:aaa");
        Assert.Equal("feather-env:" + hash[..16], EnvironmentHash.ImageTag(hash));
    }

    [Theory]
    [InlineData(new[] { "python3-numpy; rm -rf /" }, new string[0], "not a valid Debian package name")]
    [InlineData(new[] { "Python3" }, new string[0], "not a valid Debian package name")]
    [InlineData(new string[0], new[] { "numpy==1.0 && curl x" }, "not a valid pip requirement")]
    [InlineData(new string[0], new[] { "numpy'" }, "not a valid pip requirement")]
    [InlineData(new string[0], new[] { "--index-url=http://evil" }, "not a valid pip requirement")]
    public void Invalid_packages_are_rejected_with_the_package_named(string[] system, string[] python, string message)
    {
        var error = EnvironmentHash.Validate(Spec(system, python));
        Assert.NotNull(error);
        Assert.Contains(message, error);
        Assert.Contains((system.Length > 0 ? system : python)[0], error);
    }

    [Fact]
    public void Valid_specs_pass()
    {
        Assert.Null(EnvironmentHash.Validate(Spec(["python3-numpy", "libstdc++6", "g++=4:12.2.0-3"], ["numpy==1.24.2", "torch>=2.0,<3", "uvicorn[standard]", "scikit-learn"])));
        Assert.Contains("unknown profile 'huge'", EnvironmentHash.Validate(Spec(profile: "huge")));
        Assert.Contains("must look like 3.11", EnvironmentHash.Validate(Spec(py: "3")));
    }
}

public class BuildContextTests
{
    [Fact]
    public void Environment_dockerfile_runs_only_the_package_managers_as_root()
    {
        var spec = new EnvironmentSpec("feather-runner:latest", "low", "3.11", ["python3-numpy", "libgomp1"], ["numpy==1.24.2"]);
        var d = BuildContext.EnvironmentDockerfile("feather-runner@sha256:abc", spec, null, "http://wheels.lab/");
        var lines = d.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("FROM feather-runner@sha256:abc", lines[0]);
        Assert.Equal("USER 10001:10001", lines[1]);
        Assert.StartsWith("RUN python3 -I -S -c", lines[2]);
        Assert.Equal("USER root", lines[3]);
        Assert.Contains(lines, l => l.Contains("apt-get install -y --no-install-recommends libgomp1 python3-numpy"));
        Assert.Contains(lines, l => l.Contains("python3 -I -m pip --version") && l.Contains("python3-pip"));
        var pip = Assert.Single(lines, l => l.Contains("pip install"));
        foreach (var flag in new[] { "--isolated", "--only-binary=:all:", "--no-compile", "--no-index --find-links 'http://wheels.lab/'", "'numpy==1.24.2'" })
            Assert.Contains(flag, pip);
        // after the install: only mkdir/chown as root, then the byte-compile as the user, without site (.pth files)
        var user = Array.LastIndexOf(lines, "USER 10001:10001");
        Assert.Equal(lines.Length - 2, user);
        Assert.Contains("chown -h 10001:10001", lines[user - 1]);
        Assert.DoesNotContain("python", lines[user - 1].Replace("/usr/local/lib/python3*", ""));
        Assert.Contains("python3 -I -S -m compileall", lines[^1]);
    }

    [Fact]
    public void Without_a_configured_source_pip_never_reaches_an_index()
    {
        var d = BuildContext.EnvironmentDockerfile("r", new EnvironmentSpec("r", "low", "3.11", [], ["six==1.16.0"]), null, null);
        Assert.Contains("--no-compile --no-index 'six==1.16.0'", d);
    }

    [Fact]
    public void The_recipe_version_is_part_of_the_hash()
    {
        var spec = new EnvironmentSpec("feather-runner:latest", "low", "3.11", [], []);
        Assert.Contains($"\"recipe\":{EnvironmentHash.RecipeVersion}", EnvironmentHash.Canonical(spec, "sha256:abc"));
    }

    [Fact]
    public void Without_packages_there_is_no_apt_or_pip_and_an_index_url_is_used_when_no_wheelhouse()
    {
        var none = BuildContext.EnvironmentDockerfile("r", new EnvironmentSpec("r", "low", "3.11", [], []), "http://idx/simple", null);
        Assert.DoesNotContain("apt-get", none);
        Assert.DoesNotContain("pip install", none);
        var idx = BuildContext.EnvironmentDockerfile("r", new EnvironmentSpec("r", "low", "3.11", [], ["six==1.16.0"]), "http://idx/simple", null);
        Assert.Contains("--index-url 'http://idx/simple' --trusted-host 'idx'", idx);
        Assert.DoesNotContain("--no-index", idx);
    }

    [Theory]
    [InlineData("http://172.17.0.2:8000/", "172.17.0.2:8000")]
    [InlineData("http://wheels.lab/simple", "wheels.lab")]
    [InlineData("https://wheels.lab/simple", null)]
    [InlineData("/srv/wheelhouse", null)]
    [InlineData(null, null)]
    public void Only_a_plain_http_source_gets_a_trusted_host(string? url, string? host)
    {
        Assert.Equal(host, BuildContext.PlainHttpHost(url));
        var d = BuildContext.EnvironmentDockerfile("r", new EnvironmentSpec("r", "low", "3.11", [], ["six==1.16.0"]), null, url);
        if (host is null) Assert.DoesNotContain("--trusted-host", d);
        else Assert.Contains($"--no-index --find-links '{url}' --trusted-host '{host}' 'six==1.16.0'", d);
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/../../b")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("a\\b")]
    [InlineData("C:/x")]
    [InlineData("a\nb")]
    [InlineData("%2e%2e/x")]
    [InlineData("")]
    [InlineData(".wh.model.py")] // a whiteout entry: in an image layer it deletes /model/model.py instead of adding a file
    [InlineData("a/.wh..wh..opq")]
    public void Paths_that_could_leave_model_are_refused(string path)
    {
        Assert.NotNull(BuildContext.CheckPath(path));
    }

    [Theory]
    [InlineData("model.py")]
    [InlineData("weights/v1/model.npz")]
    [InlineData("data/a b+c@d=e.txt")]
    public void Ordinary_paths_pass(string path) => Assert.Null(BuildContext.CheckPath(path));

    [Fact]
    public async Task Version_context_puts_files_under_model_owned_by_root_and_readable_by_all()
    {
        var files = new Dictionary<string, byte[]> { ["model.py"] = "x"u8.ToArray(), ["w/deep/a.bin"] = [1, 2, 3] };
        using var tar = new MemoryStream();
        await BuildContext.WriteVersionContextAsync(tar, "FROM x\n", files.Keys, (p, _) => Task.FromResult<Stream>(new MemoryStream(files[p])), default);
        tar.Position = 0;
        using var reader = new System.Formats.Tar.TarReader(tar);
        var entries = new List<System.Formats.Tar.TarEntry>();
        while (await reader.GetNextEntryAsync() is { } e) entries.Add(e);
        Assert.Equal(["Dockerfile", "model/", "model/model.py", "model/w/", "model/w/deep/", "model/w/deep/a.bin"], entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal((0, 0), (e.Uid, e.Gid)));
        Assert.All(entries, e => Assert.True(e.Mode.HasFlag(UnixFileMode.OtherRead)));
        Assert.All(entries, e => Assert.False(e.Mode.HasFlag(UnixFileMode.OtherWrite)));
    }

    [Fact]
    public async Task Version_context_puts_the_files_named_as_weights_under_weights_first()
    {
        var files = new Dictionary<string, byte[]> { ["model.py"] = "x"u8.ToArray(), ["w/big.bin"] = [1, 2, 3], ["w/small.txt"] = [4] };
        using var tar = new MemoryStream();
        await BuildContext.WriteVersionContextAsync(tar, BuildContext.WeightsDockerfile("env"), files.Keys,
            (p, _) => Task.FromResult<Stream>(new MemoryStream(files[p])), default, new HashSet<string> { "w/big.bin" });
        tar.Position = 0;
        using var reader = new System.Formats.Tar.TarReader(tar);
        var entries = new List<System.Formats.Tar.TarEntry>();
        while (await reader.GetNextEntryAsync() is { } e) entries.Add(e);
        Assert.Equal(["Dockerfile", "model/", "weights/", "weights/w/", "weights/w/big.bin", "model/model.py", "model/w/", "model/w/small.txt"],
            entries.Select(e => e.Name));
        Assert.Equal("FROM env\nCOPY weights/ /model/\n", BuildContext.WeightsDockerfile("env"));
        Assert.Equal("FROM w\nCOPY model/ /model/\n", BuildContext.VersionDockerfile("w"));
    }

    [Fact]
    public async Task Version_context_refuses_content_of_unknown_length_instead_of_buffering_it()
    {
        using var tar = new MemoryStream();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => BuildContext.WriteVersionContextAsync(tar, "FROM x\n", ["a.bin"],
            (_, _) => Task.FromResult<Stream>(new NonSeekable()), default));
        Assert.Contains("'model/a.bin' must be seekable", e.Message);
    }

    private sealed class NonSeekable() : MemoryStream(new byte[10])
    {
        public override bool CanSeek => false;
    }

    [Theory]
    [InlineData("hello", 3, "feather-version:hello-3")]
    [InlineData("m_1.x", 1, "feather-version:m_1.x-1")]
    public void Tag_safe_model_ids_are_used_as_they_are(string id, int n, string tag) =>
        Assert.Equal(tag, DockerImageBuilder.VersionImageTag(id, n));

    [Fact]
    public void Other_model_ids_are_made_tag_safe_without_colliding()
    {
        var a = DockerImageBuilder.VersionImageTag("alice/Hello", 2);
        var b = DockerImageBuilder.VersionImageTag("alice-hello", 2);
        Assert.Matches("^feather-version:alice-hello-[0-9a-f]{8}-2$", a);
        Assert.NotEqual(a, b);
    }
}

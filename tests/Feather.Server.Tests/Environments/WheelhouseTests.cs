using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Blobs;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Sandbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ImageBuildResult = Feather.Server.Environments.ImageBuildResult;

namespace Feather.Server.Tests.Environments;

/// <summary>A pure-Python wheel made with the standard library (zip + RECORD with urlsafe-base64 SHA-256 digests).</summary>
public static class TinyWheel
{
    public const string FileName = "feather_demo_pkg-1.0.0-py3-none-any.whl";

    public static byte[] Build() => Build("feather_demo_pkg", new() { ["feather_demo_pkg/__init__.py"] = "ANSWER = 42\n" });

    /// <summary>
    /// A wheel whose .pth file (run by every Python start-up with site) writes /tmp/pth-ran-as-&lt;uid&gt;:
    /// shows under which user, if any, the build ran the package's code.
    /// </summary>
    public const string ProbeFileName = "feather_pth_probe-1.0.0-py3-none-any.whl";

    public static byte[] BuildProbe() => Build("feather_pth_probe", new()
    {
        ["feather_pth_probe/__init__.py"] = "VALUE = 7\n",
        ["feather_pth_probe.pth"] = "import os; open('/tmp/pth-ran-as-%d' % os.getuid(), 'w').close()\n",
    });

    /// <summary>A wheel of distribution <paramref name="name"/> 1.0.0 holding <paramref name="content"/> (path → text).</summary>
    public static byte[] Build(string name, Dictionary<string, string> content)
    {
        var info = $"{name}-1.0.0.dist-info";
        var files = content.Select(kv => (Path: kv.Key, Bytes: Encoding.UTF8.GetBytes(kv.Value))).ToList();
        files.Add(($"{info}/METADATA", Encoding.UTF8.GetBytes($"Metadata-Version: 2.1\nName: {name.Replace('_', '-')}\nVersion: 1.0.0\n")));
        files.Add(($"{info}/WHEEL", Encoding.UTF8.GetBytes("Wheel-Version: 1.0\nGenerator: feather-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")));
        var recordPath = $"{info}/RECORD";
        var record = new StringBuilder();
        foreach (var (path, bytes) in files)
        {
            var digest = Convert.ToBase64String(SHA256.HashData(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            record.Append(path).Append(",sha256=").Append(digest).Append(',').Append(bytes.Length).Append('\n');
        }
        record.Append(recordPath).Append(",,\n");
        files.Add((recordPath, Encoding.UTF8.GetBytes(record.ToString())));

        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, bytes) in files)
            {
                using var entry = zip.CreateEntry(path, CompressionLevel.Optimal).Open();
                entry.Write(bytes);
            }
        }
        return output.ToArray();
    }
}

/// <summary>
/// Python packages of a model install from the wheelhouse in the server's configuration (Runner:WheelhouseUrl),
/// served by a throw-away container on the default bridge network; a package the wheelhouse lacks fails the build
/// with pip's own message. Everything the test creates is removed at the end.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class WheelhouseTests(RunnerFixture fx)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Python_packages_install_from_the_configured_wheelhouse_and_a_missing_one_fails_with_pips_message()
    {
        using var cts = new CancellationTokenSource(Bound);
        var ct = cts.Token;
        var docker = fx.Docker;
        string? server = null;
        var images = new List<string>();
        ServiceProvider? services = null;
        try
        {
            server = await StartWheelhouseAsync(docker, "wheelhouse", ct);
            var ip = (await docker.Containers.InspectContainerAsync(server, ct)).NetworkSettings?.Networks?.TryGetValue("bridge", out var bridge) == true ? bridge.IPAddress : null;
            Assert.False(string.IsNullOrEmpty(ip), "the wheelhouse container has no address on the default bridge network");

            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Runner:InstanceId"] = fx.InstanceId,
                ["Runner:BaseImage"] = fx.RunnerImage,
                ["Runner:WheelhouseUrl"] = $"http://{ip}:8000/",
                ["Runner:BuildTimeoutSeconds"] = "300",
            }).Build();
            services = new ServiceCollection()
                .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton<IBlobStore>(fx.Blobs)
                .AddRunner(config)
                .BuildServiceProvider();
            var builder = services.GetRequiredService<IImageBuilder>();
            var modelId = $"wheelhouse-{fx.InstanceId}";

            var clock = Stopwatch.StartNew();
            var ok = await BuildAsync(builder, modelId, 1, "feather-demo-pkg==1.0.0", images, ct);
            Assert.True(ok.Outcome == ImageBuildOutcome.Ready, ok.Error + "\n---\n" + ok.Log);
            Assert.Contains("Successfully installed feather-demo-pkg-1.0.0", ok.Log);
            var served = await LogsAsync(docker, server, ct);
            Assert.True(served.Contains($"GET /{TinyWheel.FileName} HTTP/1.1\" 200"), "the wheelhouse did not serve the wheel:\n" + served);

            var (exit, stdout, stderr) = await RunAsync(docker, ok.VersionImage, "import feather_demo_pkg; print(feather_demo_pkg.ANSWER)", ct);
            Assert.True(exit == 0, $"exit {exit}: {stderr}");
            Assert.Equal("42", stdout.Trim());

            var missing = await BuildAsync(builder, modelId, 2, "feather-demo-pkg==2.0.0", images, ct);
            Assert.Equal(ImageBuildOutcome.Failed, missing.Outcome);
            const string pipMessage = "ERROR: No matching distribution found for feather-demo-pkg==2.0.0";
            Assert.True(missing.Error!.Contains(pipMessage), missing.Error + "\n---\n" + missing.Log);
            Assert.Contains(pipMessage, missing.Log);
            await Assert.ThrowsAsync<DockerImageNotFoundException>(() => docker.Images.InspectImageAsync(missing.EnvironmentImage, ct));
            Console.WriteLine($"wheelhouse test: both builds took {clock.Elapsed.TotalSeconds:F0} s");
        }
        finally
        {
            if (server is not null)
                await docker.Containers.RemoveContainerAsync(server, new ContainerRemoveParameters { Force = true }, default);
            for (var i = images.Count - 1; i >= 0; i--)
            {
                try
                {
                    await docker.Images.DeleteImageAsync(images[i], new ImageDeleteParameters { Force = true }, default);
                }
                catch (DockerImageNotFoundException)
                {
                }
            }
            if (services is not null) await services.DisposeAsync();
        }
    }

    [Fact]
    public async Task Package_code_never_runs_as_root_and_a_long_build_log_keeps_its_start_and_end()
    {
        using var cts = new CancellationTokenSource(Bound);
        var ct = cts.Token;
        var docker = fx.Docker;
        string? server = null;
        var images = new List<string>();
        ServiceProvider? services = null;
        try
        {
            server = await StartWheelhouseAsync(docker, "probe", ct);
            var ip = await BridgeAddressAsync(docker, server, ct);
            services = Builder(new()
            {
                ["Runner:WheelhouseUrl"] = $"http://{ip}:8000/",
                ["Runner:BuildTimeoutSeconds"] = "300",
                ["Runner:MaxBuildLogBytes"] = "2048",
            });
            var builder = services.GetRequiredService<IImageBuilder>();
            var result = await BuildAsync(builder, $"pth-probe-{fx.InstanceId}", 1, "feather-pth-probe==1.0.0", images, ct, "import feather_pth_probe\n");
            Assert.True(result.Outcome == ImageBuildOutcome.Ready, result.Error + "\n---\n" + result.Log);

            // the build left no trace of the .pth running as root (uid 0), nor as anyone: the byte-compile ran without site
            var (exit, listing, err) = await RunAsync(docker, result.VersionImage, ["sh", "-c", "ls -a /tmp"], ct);
            Assert.True(exit == 0, err);
            Assert.DoesNotContain("pth-ran-as-0", listing);
            Assert.DoesNotContain("pth-ran-as-", listing);
            // the probe works: a Python start-up as the image's user runs it as 10001
            var (exit2, stdout, stderr) = await RunAsync(docker, result.VersionImage, ["python3", "-c",
                "import os, feather_pth_probe; print(os.getuid(), sorted(f for f in os.listdir('/tmp') if f.startswith('pth-ran-as')))"], ct);
            Assert.True(exit2 == 0, stderr);
            Assert.Equal("10001 ['pth-ran-as-10001']", stdout.Trim());
            // and the package was byte-compiled at build, by the user
            var (exit3, owner, stderr3) = await RunAsync(docker, result.VersionImage, ["sh", "-c",
                "stat -c '%u' /usr/local/lib/python3*/dist-packages/feather_pth_probe/__pycache__/__init__.cpython-*.pyc"], ct);
            Assert.True(exit3 == 0, stderr3 + "\n---\n" + result.Log);
            Assert.Equal("10001", owner.Trim());

            // the log: first and last KiB kept, the middle replaced by one marker line
            Assert.True(Encoding.UTF8.GetByteCount(result.Log) < 2048 + 300, $"{result.Log.Length} chars:\n{result.Log}");
            Assert.Contains(BuildLog.MarkerStart, result.Log);
            Assert.Contains("bytes of the build log left out", result.Log);
            Assert.StartsWith("runner image ", result.Log);
            Assert.EndsWith($"version image {result.VersionImage} ready\n", result.Log);
        }
        finally
        {
            await CleanUpAsync(docker, server, images, services);
        }
    }

    [Fact]
    public async Task A_build_past_its_time_limit_stops_with_a_clear_message()
    {
        using var cts = new CancellationTokenSource(Bound);
        var ct = cts.Token;
        var docker = fx.Docker;
        string? server = null;
        var images = new List<string>();
        ServiceProvider? services = null;
        try
        {
            server = await StartSilentServerAsync(docker, ct); // accepts connections, never answers: pip waits
            var ip = await BridgeAddressAsync(docker, server, ct);
            services = Builder(new() { ["Runner:WheelhouseUrl"] = $"http://{ip}:8000/", ["Runner:BuildTimeoutSeconds"] = "8" });
            // the silent server never answers, so only the build timeout can end this build (the test's own bound would fail it)
            var result = await BuildAsync(services.GetRequiredService<IImageBuilder>(), $"slow-{fx.InstanceId}", 1, "feather-demo-pkg==1.0.0", images, ct);
            Assert.Equal(ImageBuildOutcome.Failed, result.Outcome);
            Assert.Contains("took longer than 8 s and was stopped", result.Error);
            Assert.Contains("Runner:BuildTimeoutSeconds", result.Error);
        }
        finally
        {
            await CleanUpAsync(docker, server, images, services);
        }
    }

    [Fact]
    public async Task Python_packages_without_a_configured_source_fail_with_the_setting_to_set()
    {
        await using var services = Builder([]);
        var images = new List<string>();
        var result = await BuildAsync(services.GetRequiredService<IImageBuilder>(), $"nosource-{fx.InstanceId}", 1, "feather-demo-pkg==1.0.0", images, default);
        Assert.Equal(ImageBuildOutcome.Failed, result.Outcome);
        Assert.Contains("no package source", result.Error);
        Assert.Contains("Runner:WheelhouseUrl", result.Error);
        Assert.Contains("Runner:PythonIndexUrl", result.Error);
        Assert.Empty(images);
    }

    private ServiceProvider Builder(Dictionary<string, string?> settings)
    {
        settings["Runner:InstanceId"] = fx.InstanceId;
        settings["Runner:BaseImage"] = fx.RunnerImage;
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection()
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton<IBlobStore>(fx.Blobs)
            .AddRunner(config)
            .BuildServiceProvider();
    }

    private static async Task<string> BridgeAddressAsync(DockerClient docker, string container, CancellationToken ct)
    {
        var ip = (await docker.Containers.InspectContainerAsync(container, ct)).NetworkSettings?.Networks?.TryGetValue("bridge", out var bridge) == true ? bridge.IPAddress : null;
        Assert.False(string.IsNullOrEmpty(ip), "the test server container has no address on the default bridge network");
        return ip!;
    }

    private static async Task CleanUpAsync(DockerClient docker, string? server, List<string> images, ServiceProvider? services)
    {
        if (server is not null)
            await docker.Containers.RemoveContainerAsync(server, new ContainerRemoveParameters { Force = true }, default);
        for (var i = images.Count - 1; i >= 0; i--)
        {
            try
            {
                await docker.Images.DeleteImageAsync(images[i], new ImageDeleteParameters { Force = true }, default);
            }
            catch (DockerImageNotFoundException)
            {
            }
        }
        if (services is not null) await services.DisposeAsync();
    }

    private async Task<ImageBuildResult> BuildAsync(IImageBuilder builder, string modelId, int number, string requirement,
        List<string> images, CancellationToken ct, string code = "import feather_demo_pkg\n")
    {
        var model = Encoding.UTF8.GetBytes(code);
        var env = fx.Environment() with { PythonPackages = [requirement] };
        var result = await builder.BuildAsync(
            new VersionImageRequest(modelId, number, env, [new VersionFile("model.py", fx.Blobs.Put(model), model.Length)]), null, ct);
        foreach (var image in new[] { result.EnvironmentImage, result.VersionImage })
        {
            if (string.IsNullOrEmpty(image)) continue;
            fx.Track(image); // the fixture removes it too if this test stops early
            if (!images.Contains(image)) images.Add(image);
        }
        return result;
    }

    /// <summary>feather-base:bookworm serving /wheelhouse (holding the tiny wheel) with python3 -m http.server on port 8000.</summary>
    private async Task<string> StartWheelhouseAsync(DockerClient docker, string name, CancellationToken ct)
    {
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "feather-base:bookworm",
            Name = $"feather-test-{name}-{fx.InstanceId}",
            Labels = new Dictionary<string, string> { ["org.feather.test"] = fx.InstanceId, ["org.feather.owner"] = fx.InstanceId },
            Cmd = ["python3", "-u", "-m", "http.server", "8000", "--directory", "/wheelhouse"],
            HostConfig = new HostConfig { Memory = 128L * 1024 * 1024 },
        }, ct);
        using var archive = new MemoryStream();
        await using (var tar = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
        {
            await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "wheelhouse/")
            {
                Mode = (UnixFileMode)0b111_101_101,
            }, ct);
            await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "wheelhouse/" + TinyWheel.FileName)
            {
                Mode = (UnixFileMode)0b110_100_100,
                DataStream = new MemoryStream(TinyWheel.Build()),
            }, ct);
            await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "wheelhouse/" + TinyWheel.ProbeFileName)
            {
                Mode = (UnixFileMode)0b110_100_100,
                DataStream = new MemoryStream(TinyWheel.BuildProbe()),
            }, ct);
        }
        archive.Position = 0;
        await docker.Containers.ExtractArchiveToContainerAsync(created.ID, new CopyToContainerParameters { Path = "/" }, archive, ct);
        await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
        var deadline = Stopwatch.StartNew();
        while (!(await LogsAsync(docker, created.ID, ct)).Contains("Serving HTTP on"))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the wheelhouse server did not start:\n" + await LogsAsync(docker, created.ID, ct));
            await Task.Delay(100, ct);
        }
        return created.ID;
    }

    /// <summary>A server on port 8000 that accepts connections and never answers.</summary>
    private async Task<string> StartSilentServerAsync(DockerClient docker, CancellationToken ct)
    {
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "feather-base:bookworm",
            Name = $"feather-test-silent-{fx.InstanceId}",
            Labels = new Dictionary<string, string> { ["org.feather.test"] = fx.InstanceId, ["org.feather.owner"] = fx.InstanceId },
            Cmd = ["python3", "-u", "-c", "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 8000)); s.listen(64); print('listening'); time.sleep(3600)"],
            HostConfig = new HostConfig { Memory = 128L * 1024 * 1024 },
        }, ct);
        await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
        var deadline = Stopwatch.StartNew();
        while (!(await LogsAsync(docker, created.ID, ct)).Contains("listening"))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the silent server did not start");
            await Task.Delay(100, ct);
        }
        return created.ID;
    }

    private static async Task<string> LogsAsync(DockerClient docker, string id, CancellationToken ct)
    {
        using var stream = await docker.Containers.GetContainerLogsAsync(id, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true }, ct);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct);
        return stdout + stderr;
    }

    /// <summary>docker run --rm --network none --entrypoint python3 IMAGE -c CODE.</summary>
    private static Task<(long Exit, string Stdout, string Stderr)> RunAsync(DockerClient docker, string image, string code, CancellationToken ct) =>
        RunAsync(docker, image, ["python3", "-c", code], ct);

    /// <summary>docker run --rm --network none --entrypoint COMMAND[0] IMAGE COMMAND[1..], as the image's user.</summary>
    private static async Task<(long Exit, string Stdout, string Stderr)> RunAsync(DockerClient docker, string image, string[] command, CancellationToken ct)
    {
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = [command[0]],
            Cmd = command[1..],
            Labels = new Dictionary<string, string> { ["org.feather.test"] = "wheelhouse" },
            HostConfig = new HostConfig { NetworkMode = "none" },
        }, ct);
        try
        {
            await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
            var exit = await docker.Containers.WaitContainerAsync(created.ID, ct);
            using var stream = await docker.Containers.GetContainerLogsAsync(created.ID, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true }, ct);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct);
            return (exit.StatusCode, stdout, stderr);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, default);
        }
    }
}

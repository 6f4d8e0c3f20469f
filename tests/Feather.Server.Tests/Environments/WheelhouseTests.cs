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

    public static byte[] Build()
    {
        var files = new List<(string Path, byte[] Bytes)>
        {
            ("feather_demo_pkg/__init__.py", Encoding.UTF8.GetBytes("ANSWER = 42\n")),
            ("feather_demo_pkg-1.0.0.dist-info/METADATA", Encoding.UTF8.GetBytes("Metadata-Version: 2.1\nName: feather-demo-pkg\nVersion: 1.0.0\n")),
            ("feather_demo_pkg-1.0.0.dist-info/WHEEL", Encoding.UTF8.GetBytes("Wheel-Version: 1.0\nGenerator: feather-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")),
        };
        const string recordPath = "feather_demo_pkg-1.0.0.dist-info/RECORD";
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
            server = await StartWheelhouseAsync(docker, ct);
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

    private async Task<ImageBuildResult> BuildAsync(IImageBuilder builder, string modelId, int number, string requirement,
        List<string> images, CancellationToken ct)
    {
        var model = Encoding.UTF8.GetBytes("import feather_demo_pkg\n");
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
    private async Task<string> StartWheelhouseAsync(DockerClient docker, CancellationToken ct)
    {
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "feather-base:bookworm",
            Name = $"feather-test-wheelhouse-{fx.InstanceId}",
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

    private static async Task<string> LogsAsync(DockerClient docker, string id, CancellationToken ct)
    {
        using var stream = await docker.Containers.GetContainerLogsAsync(id, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true }, ct);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct);
        return stdout + stderr;
    }

    /// <summary>docker run --rm --network none --entrypoint python3 IMAGE -c CODE.</summary>
    private static async Task<(long Exit, string Stdout, string Stderr)> RunAsync(DockerClient docker, string image, string code, CancellationToken ct)
    {
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = ["python3"],
            Cmd = ["-c", code],
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

using System.Runtime.CompilerServices;
using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Environments;
using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Sandbox;

/// <summary>
/// What the runner fixtures share (<see cref="RunnerFixture"/> on the local engine, <c>SwarmRunnerFixture</c> on a
/// one-node swarm): the runner settings of their tests, the test runner image (feather-base:bookworm + the stand-in
/// runtime of models/runtime.py), the test models as a version's files, and the removal of the images they made.
/// </summary>
public static class TestRunnerImages
{
    /// <summary>The sandbox test models (Sandbox/models).</summary>
    public static string ModelsDir([CallerFilePath] string file = "") => Path.Combine(Path.GetDirectoryName(file)!, "models");

    /// <summary>
    /// The runner settings both fixtures start from: 1 MiB output and 64 KiB log caps, <c>low</c> small (128 MiB,
    /// 64 pids, 16 MiB tmpfs, 20 s) and <c>medium</c> the short-timeout profile (128 MiB, 3 s).
    /// </summary>
    public static Dictionary<string, string?> RunnerSettings(string instanceId, string runnerImage) => new()
    {
        ["Runner:InstanceId"] = instanceId,
        ["Runner:BaseImage"] = runnerImage,
        // weights built into images: these fixtures' blob stores are in memory, so they have no files to mount
        // (mounted weights: VersionWeightsTests and the end-to-end tests)
        ["Runner:Weights"] = "image",
        ["Runner:MaxOutputBytes"] = (1024 * 1024).ToString(),
        ["Runner:MaxLogBytes"] = (64 * 1024).ToString(),
        ["Runner:Profiles:Low:MemoryMiB"] = "128",
        ["Runner:Profiles:Low:PidsLimit"] = "64",
        ["Runner:Profiles:Low:TmpfsMiB"] = "16",
        ["Runner:Profiles:Low:TimeoutSeconds"] = "20",
        // medium is the "short timeout" profile of these tests
        ["Runner:Profiles:Medium:MemoryMiB"] = "128",
        ["Runner:Profiles:Medium:TimeoutSeconds"] = "3",
    };

    /// <summary>Builds the test runner image as <paramref name="tag"/> (labelled org.feather.test=<paramref name="instanceId"/>).</summary>
    public static async Task BuildRunnerAsync(DockerClient docker, string tag, string instanceId)
    {
        var dockerfile = """
            FROM feather-base:bookworm
            COPY model/ /opt/feather/feather/
            USER root
            RUN mkdir -p /model /scratch && chown 10001:10001 /scratch
            ENV PYTHONPATH=/opt/feather PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
            WORKDIR /model
            USER 10001:10001
            LABEL org.feather.runtime.prepare="1"
            ENTRYPOINT ["python3", "-m", "feather.runtime"]
            """;
        var files = new Dictionary<string, byte[]>
        {
            ["__init__.py"] = [],
            ["runtime.py"] = File.ReadAllBytes(Path.Combine(ModelsDir(), "runtime.py")),
        };
        using var context = new MemoryStream();
        await BuildContext.WriteVersionContextAsync(context, dockerfile, files.Keys,
            (p, _) => Task.FromResult<Stream>(new MemoryStream(files[p])), default);
        context.Position = 0;
        string? error = null;
        await docker.Images.BuildImageFromDockerfileAsync(
            new ImageBuildParameters { Tags = [tag], Labels = new Dictionary<string, string> { ["org.feather.test"] = instanceId }, Remove = true, ForceRemove = true },
            context, null, null, new Progress<JSONMessage>(m => error ??= m.Error?.Message), default);
        var image = await docker.Images.InspectImageAsync(tag, default);
        Assert.True(image is not null, error);
    }

    /// <summary>The test models (every file of models/ but the runtime), stored in <paramref name="blobs"/>, as a version's files.</summary>
    public static List<VersionFile> ModelFiles(MemoryBlobStore blobs) =>
        Directory.GetFiles(ModelsDir(), "*.py")
            .Where(f => Path.GetFileName(f) != "runtime.py")
            .Select(f =>
            {
                var bytes = File.ReadAllBytes(f);
                return new VersionFile(Path.GetFileName(f), blobs.Put(bytes), bytes.Length);
            })
            .ToList();

    /// <summary>Removes the images, newest first (version images depend on environment images, which depend on the runner).</summary>
    public static async Task RemoveImagesAsync(DockerClient docker, IReadOnlyList<string> images)
    {
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
    }
}

using System.Formats.Tar;
using System.Reflection;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Sandbox;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Environments;

/// <summary>Environment and version image builds through the real engine.</summary>
[Collection(DockerCollection.Name)]
public sealed class DockerImageBuilderTests(RunnerFixture fx)
{
    private sealed class Lines : IProgress<string>
    {
        public List<string> All { get; } = [];
        public void Report(string value) { lock (All) All.Add(value); }
    }

    [Fact]
    public async Task The_first_version_built_an_environment_and_a_version_image_with_labels()
    {
        Assert.Equal(ImageBuildOutcome.Ready, fx.FirstBuild.Outcome);
        Assert.Matches("^feather-env:[0-9a-f]{16}$", fx.FirstBuild.EnvironmentImage);
        Assert.Equal($"feather-version:{fx.ModelId}-1", fx.FirstBuild.VersionImage);
        var image = await fx.Docker.Images.InspectImageAsync(fx.FirstBuild.VersionImage, default);
        var labels = image.Config!.Labels!;
        Assert.Equal("true", labels["org.feather.managed"]);
        Assert.Equal(fx.ModelId, labels["org.feather.model"]);
        Assert.Equal("1", labels["org.feather.version"]);
        Assert.StartsWith(fx.FirstBuild.EnvironmentImage["feather-env:".Length..], labels["org.feather.env-hash"]);
    }

    [Fact]
    public async Task A_second_version_with_the_same_spec_reuses_the_environment_image()
    {
        var envBefore = await fx.Docker.Images.InspectImageAsync(fx.FirstBuild.EnvironmentImage, default);
        var lines = new Lines();
        var second = await fx.BuildVersionAsync(2, log: lines);
        Assert.Equal(ImageBuildOutcome.Ready, second.Outcome);
        Assert.Equal(fx.FirstBuild.EnvironmentImage, second.EnvironmentImage);
        Assert.Equal($"feather-version:{fx.ModelId}-2", second.VersionImage);
        Assert.Contains(lines.All, l => l.Contains($"environment image {second.EnvironmentImage} already built; reusing it"));
        Assert.DoesNotContain(lines.All, l => l.Contains($"building environment image"));
        var envAfter = await fx.Docker.Images.InspectImageAsync(second.EnvironmentImage, default);
        Assert.Equal(envBefore.ID, envAfter.ID);
        Assert.Equal(second.Log.TrimEnd('\n').Split('\n'), lines.All);
    }

    [Fact]
    public async Task In_image_mode_large_files_go_into_a_weights_image_that_a_version_changing_only_code_builds_on_again()
    {
        var builder = fx.Services.GetRequiredService<IImageBuilder>();
        var weightsBytes = new byte[(int)BuildContext.WeightsLayerMinBytes + 10];
        new Random(8).NextBytes(weightsBytes);
        var weights = new VersionFile("weights/w.bin", fx.Blobs.Put(weightsBytes), weightsBytes.Length);
        VersionFile Code(string text)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            return new VersionFile("model.py", fx.Blobs.Put(bytes), bytes.Length);
        }

        var first = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 20, fx.Environment(), [Code("# one\n"), weights]), null, default);
        fx.Track(first.VersionImage);
        Assert.True(first.Outcome == ImageBuildOutcome.Ready, first.Error + "\n---\n" + first.Log);
        var weightsHash = (await fx.Docker.Images.InspectImageAsync(first.VersionImage, default)).Config!.Labels!["org.feather.weights-hash"];
        var weightsImage = DockerImageBuilder.WeightsImageTag(weightsHash);
        fx.Track(weightsImage); // removed (untagged) before the versions' images, whose removal then takes it along
        Assert.Contains($"building weights image {weightsImage}: 1 file(s) of 1 MiB or more, 1.0 MiB", first.Log);

        var lines = new Lines();
        var second = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 21, fx.Environment(), [Code("# two\n"), weights]), lines, default);
        fx.Track(second.VersionImage);
        Assert.DoesNotContain(lines.All, l => l.StartsWith("building weights image", StringComparison.Ordinal));
        Assert.True(second.Outcome == ImageBuildOutcome.Ready, second.Error + "\n---\n" + second.Log);
        Assert.Contains(lines.All, l => l.StartsWith($"weights image {weightsImage} (1 file(s), 1.0 MiB) already built; reusing it"));

        var w = await fx.Docker.Images.InspectImageAsync(weightsImage, default);
        Assert.Equal("weights", w.Config!.Labels!["org.feather.image"]);
        foreach (var version in new[] { first, second })
        {
            var image = await fx.Docker.Images.InspectImageAsync(version.VersionImage, default);
            Assert.Equal(weightsHash, image.Config!.Labels!["org.feather.weights-hash"]);
            // built FROM the weights image plus one layer of code: one copy of the weights, shared
            Assert.Equal(w.RootFS!.Layers!, image.RootFS!.Layers!.Take(w.RootFS.Layers!.Count));
            Assert.Equal(w.RootFS.Layers!.Count + 1, image.RootFS.Layers!.Count);
        }
    }

    [Fact]
    public async Task In_mount_mode_large_files_stay_out_of_the_image_and_its_label_names_them()
    {
        var mount = new DockerImageBuilder(fx.Services.GetRequiredService<IContainerEngine>(), fx.Blobs,
            Microsoft.Extensions.Options.Options.Create(new RunnerOptions { BaseImage = fx.RunnerImage, InstanceId = fx.InstanceId, Weights = "mount" }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<DockerImageBuilder>.Instance);
        var weightsBytes = new byte[(int)BuildContext.WeightsLayerMinBytes + 10];
        new Random(9).NextBytes(weightsBytes);
        var weights = new VersionFile("weights/a+b.bin", fx.Blobs.Put(weightsBytes), weightsBytes.Length);
        var codeBytes = System.Text.Encoding.UTF8.GetBytes("# mounted\n");
        var code = new VersionFile("model.py", fx.Blobs.Put(codeBytes), codeBytes.Length);

        var result = await mount.BuildAsync(new VersionImageRequest(fx.ModelId, 30, fx.Environment(), [code, weights]), null, default);
        fx.Track(result.VersionImage);
        Assert.True(result.Outcome == ImageBuildOutcome.Ready, result.Error + "\n---\n" + result.Log);
        Assert.Contains("1 weights file(s) of 1 MiB or more, 1.0 MiB, stay in the blob store", result.Log);
        Assert.DoesNotContain("weights image", result.Log);

        var image = await fx.Docker.Images.InspectImageAsync(result.VersionImage, default);
        var labels = image.Config!.Labels!;
        Assert.Equal([new WeightFile("weights/a+b.bin", weights.Sha256)], VersionWeights.Parse(labels[VersionWeights.MountsLabel]));
        Assert.Equal("", labels["org.feather.weights-hash"]);
        Assert.Equal("version", labels["org.feather.image"]);
        Assert.Equal("30", labels["org.feather.version"]);
        // the environment's layers plus one small layer of code: no copy of the weights
        var env = await fx.Docker.Images.InspectImageAsync(result.EnvironmentImage, default);
        Assert.Equal(env.RootFS!.Layers!.Count + 1, image.RootFS!.Layers!.Count);
        Assert.True(image.Size - env.Size < weightsBytes.Length / 2, $"the version image is {image.Size - env.Size} bytes larger than its environment");

        // a weights file missing from the blob store fails the build with its name
        var missing = new VersionFile("weights/gone.bin", new string('0', 64), weightsBytes.Length);
        var failed = await mount.BuildAsync(new VersionImageRequest(fx.ModelId, 31, fx.Environment(), [code, missing]), null, default);
        fx.Track(failed.VersionImage);
        Assert.Equal(ImageBuildOutcome.Failed, failed.Outcome);
        Assert.Contains("missing from the blob store: weights/gone.bin", failed.Error);
    }

    [Fact]
    public async Task A_nonexistent_system_package_fails_the_build_with_the_apt_error()
    {
        var result = await fx.BuildVersionAsync(3, fx.Environment("python3-doesnotexist"));
        Assert.Equal(ImageBuildOutcome.Failed, result.Outcome);
        Assert.True(result.Error!.Contains("E: Unable to locate package python3-doesnotexist"), result.Error + "\n---\n" + result.Log);
        Assert.Contains("E: Unable to locate package python3-doesnotexist", result.Log);
        await Assert.ThrowsAsync<Docker.DotNet.DockerImageNotFoundException>(() => fx.Docker.Images.InspectImageAsync(result.EnvironmentImage, default));
    }

    [Fact]
    public async Task A_python_version_the_runner_lacks_fails_with_a_clear_message()
    {
        var result = await fx.BuildVersionAsync(4, fx.Environment() with { PythonVersion = "3.99" });
        Assert.Equal(ImageBuildOutcome.Failed, result.Outcome);
        Assert.Contains("ERROR: the model needs Python 3.99, the runner image has Python 3.11", result.Error);
    }

    [Fact]
    public async Task Invalid_requests_fail_before_any_build()
    {
        var builder = fx.Services.GetRequiredService<IImageBuilder>();
        var traversal = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 5, fx.Environment(), [new VersionFile("../x.py", new string('0', 64), 1)]), null, default);
        Assert.Equal(ImageBuildOutcome.Failed, traversal.Outcome);
        Assert.Contains("'../x.py'", traversal.Error);

        var missingRunner = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 5, fx.Environment() with { RunnerImage = "feather-runner:missing-" + fx.InstanceId }, []), null, default);
        Assert.Equal(ImageBuildOutcome.Failed, missingRunner.Outcome);
        Assert.Contains("not found on the Docker engine", missingRunner.Error);

        var missingBlob = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 5, fx.Environment(), [new VersionFile("model.py", new string('a', 64), 1)]), null, default);
        fx.Track(missingBlob.VersionImage);
        Assert.Equal(ImageBuildOutcome.Failed, missingBlob.Outcome);
        Assert.Contains("missing from the blob store", missingBlob.Error);
    }

    [Fact]
    public async Task A_build_records_the_runner_image_id_and_a_rebuild_from_that_id_needs_that_exact_image()
    {
        var runner = await fx.Docker.Images.InspectImageAsync(fx.RunnerImage, default);
        Assert.Equal(runner.ID, fx.FirstBuild.RunnerImageId);
        var env = await fx.Docker.Images.InspectImageAsync(fx.FirstBuild.EnvironmentImage, default);
        Assert.Equal(runner.ID, env.Config!.Labels!["org.feather.runner-image"]);

        // a rebuild names the recorded id: the same environment image (same hash), whatever the tag points at now
        var rebuild = await fx.BuildVersionAsync(6, fx.Environment() with { RunnerImage = runner.ID });
        Assert.True(rebuild.Outcome == ImageBuildOutcome.Ready, rebuild.Error + "\n---\n" + rebuild.Log);
        Assert.Equal(fx.FirstBuild.EnvironmentImage, rebuild.EnvironmentImage);

        var gone = "sha256:" + new string('0', 64);
        var failed = await fx.BuildVersionAsync(7, fx.Environment() with { RunnerImage = gone });
        Assert.Equal(ImageBuildOutcome.Failed, failed.Outcome);
        Assert.Contains($"the runner image {gone} this version was first built on is no longer on the Docker engine", failed.Error);
        Assert.Contains("publish the model again", failed.Error);
    }

    private VersionFile Code(string path, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return new VersionFile(path, fx.Blobs.Put(bytes), bytes.Length);
    }

    /// <summary>The entries of <paramref name="path"/> in <paramref name="image"/> (a created, never started container's archive).</summary>
    private async Task<Dictionary<string, (TarEntryType Type, UnixFileMode Mode, int Uid, string Text)>> ReadAsync(string image, string path)
    {
        var created = await fx.Docker.Containers.CreateContainerAsync(new Docker.DotNet.Models.CreateContainerParameters { Image = image }, default);
        try
        {
            await using var archive = await fx.Services.GetRequiredService<IContainerEngine>().GetArchiveAsync(created.ID, path, default);
            var entries = new Dictionary<string, (TarEntryType, UnixFileMode, int, string)>();
            await using var tar = new TarReader(archive);
            while (await tar.GetNextEntryAsync() is { } e)
                entries[e.Name.TrimEnd('/')] = (e.EntryType, e.Mode, e.Uid, e.DataStream is null ? "" : await new StreamReader(e.DataStream).ReadToEndAsync());
            return entries;
        }
        finally
        {
            await fx.Docker.Containers.RemoveContainerAsync(created.ID, new Docker.DotNet.Models.ContainerRemoveParameters { Force = true }, default);
        }
    }

    [Fact]
    public async Task A_version_image_is_loaded_as_its_environment_plus_one_layer_of_code_with_the_version_labels()
    {
        var builder = fx.Services.GetRequiredService<IImageBuilder>();
        var files = new[] { Code("model.py", "# loaded\n"), Code("pkg/util.py", "X = 1\n") };
        var lines = new Lines();
        var first = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 40, fx.Environment(), files), lines, default);
        fx.Track(first.VersionImage);
        Assert.True(first.Outcome == ImageBuildOutcome.Ready, first.Error + "\n---\n" + first.Log);
        Assert.Contains(lines.All, l => l.StartsWith($"version image {first.VersionImage}: {first.EnvironmentImage} and a layer of 2 code file(s), loaded as sha256:"));
        Assert.DoesNotContain(lines.All, l => l.StartsWith("Step ", StringComparison.Ordinal)); // no Dockerfile build

        var env = await fx.Docker.Images.InspectImageAsync(first.EnvironmentImage, default);
        var image = await fx.Docker.Images.InspectImageAsync(first.VersionImage, default);
        // what the environment's containers are: user, entrypoint, working directory, environment, its labels
        Assert.Equal(env.Config!.User, image.Config!.User);
        Assert.Equal(env.Config.Entrypoint, image.Config.Entrypoint);
        Assert.Equal(env.Config.WorkingDir, image.Config.WorkingDir);
        Assert.Equal(env.Config.Env, image.Config.Env);
        foreach (var (key, value) in env.Config.Labels!.Where(l => l.Key != "org.feather.image"))
            Assert.Equal(value, image.Config.Labels![key]);
        Assert.Equal("version", image.Config.Labels!["org.feather.image"]);
        Assert.Equal("40", image.Config.Labels["org.feather.version"]);
        Assert.Equal(fx.ModelId, image.Config.Labels["org.feather.model"]);
        Assert.Equal(fx.InstanceId, image.Config.Labels["org.feather.owner"]);
        Assert.Equal([.. env.RootFS!.Layers!, image.RootFS!.Layers![^1]], image.RootFS.Layers);

        // the code as COPY puts it: owned by root, files readable by all, directories searchable
        var model = await ReadAsync(first.VersionImage, "/model");
        Assert.Equal((TarEntryType.RegularFile, (UnixFileMode)0b110_100_100, 0, "# loaded\n"), model["model/model.py"]);
        Assert.Equal((TarEntryType.RegularFile, (UnixFileMode)0b110_100_100, 0, "X = 1\n"), model["model/pkg/util.py"]);
        Assert.Equal(TarEntryType.Directory, model["model/pkg"].Type);
        Assert.Equal((UnixFileMode)0b111_101_101, model["model/pkg"].Mode);

        // a second version of the same code: its own image, the same code layer (stored once)
        var second = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, 41, fx.Environment(), files), null, default);
        fx.Track(second.VersionImage);
        Assert.True(second.Outcome == ImageBuildOutcome.Ready, second.Error + "\n---\n" + second.Log);
        var again = await fx.Docker.Images.InspectImageAsync(second.VersionImage, default);
        Assert.NotEqual(image.ID, again.ID);
        Assert.Equal(image.RootFS.Layers, again.RootFS!.Layers);
        Assert.Equal("41", again.Config!.Labels!["org.feather.version"]);
    }

    [Fact]
    public async Task An_engine_that_refuses_archives_gets_version_images_built_with_a_Dockerfile_and_after_three_in_a_row_no_more_tries()
    {
        var engine = RefusingLoads.Wrap(fx.Services.GetRequiredService<IContainerEngine>(), refuse: int.MaxValue);
        var builder = Builder(engine);
        var files = new[] { Code("model.py", "# built\n") };
        for (var n = 50; n < 54; n++)
        {
            var result = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, n, fx.Environment(), files), null, default);
            fx.Track(result.VersionImage);
            Assert.True(result.Outcome == ImageBuildOutcome.Ready, result.Error + "\n---\n" + result.Log);
            Assert.Contains("Step 1/3 : FROM " + result.EnvironmentImage, result.Log);
            var image = await fx.Docker.Images.InspectImageAsync(result.VersionImage, default);
            Assert.Equal(n.ToString(System.Globalization.CultureInfo.InvariantCulture), image.Config!.Labels!["org.feather.version"]);
            Assert.Equal("version", image.Config.Labels["org.feather.image"]);
            Assert.Equal("# built\n", (await ReadAsync(result.VersionImage, "/model/model.py"))["model.py"].Text);
            if (n < 53)
                Assert.Contains("the engine did not take the version image as an archive (this engine loads no archive); building it with a Dockerfile instead", result.Log);
            else
                Assert.DoesNotContain("as an archive", result.Log); // refused three times in a row: no more tries
        }
        Assert.Equal(DockerImageBuilder.RefusalsBeforeBuild, RefusingLoads.Of(engine).Refused);
    }

    [Fact]
    public async Task A_load_the_engine_takes_resets_the_count_of_refusals()
    {
        var engine = RefusingLoads.Wrap(fx.Services.GetRequiredService<IContainerEngine>(), refuse: 2);
        var builder = Builder(engine);
        var files = new[] { Code("model.py", "# sometimes\n") };
        async Task<string> BuildAsync(int n)
        {
            var result = await builder.BuildAsync(new VersionImageRequest(fx.ModelId, n, fx.Environment(), files), null, default);
            fx.Track(result.VersionImage);
            Assert.True(result.Outcome == ImageBuildOutcome.Ready, result.Error + "\n---\n" + result.Log);
            return result.Log;
        }
        Assert.Contains("as an archive (this engine loads no archive)", await BuildAsync(60));
        Assert.Contains("as an archive (this engine loads no archive)", await BuildAsync(61));
        Assert.Contains("loaded as sha256:", await BuildAsync(62));
        RefusingLoads.Of(engine).Refuse = 2;
        Assert.Contains("as an archive (this engine loads no archive)", await BuildAsync(63));
        Assert.Contains("as an archive (this engine loads no archive)", await BuildAsync(64));
        Assert.Contains("loaded as sha256:", await BuildAsync(65)); // four refusals, never three in a row
        Assert.Equal(4, RefusingLoads.Of(engine).Refused);
    }

    private DockerImageBuilder Builder(IContainerEngine engine) => new(engine, fx.Blobs,
        Microsoft.Extensions.Options.Options.Create(new RunnerOptions { BaseImage = fx.RunnerImage, InstanceId = fx.InstanceId }),
        Microsoft.Extensions.Logging.Abstractions.NullLogger<DockerImageBuilder>.Instance);

    /// <summary>The real engine, but one that refuses the next <see cref="Refuse"/> archives (as an engine that wants every layer in one would).</summary>
    public class RefusingLoads : DispatchProxy
    {
        private IContainerEngine _inner = null!;
        public int Refuse;
        public int Refused;

        public static IContainerEngine Wrap(IContainerEngine inner, int refuse)
        {
            var proxy = Create<IContainerEngine, RefusingLoads>();
            Of(proxy)._inner = inner;
            Of(proxy).Refuse = refuse;
            return proxy;
        }

        public static RefusingLoads Of(IContainerEngine proxy) => (RefusingLoads)(object)proxy;

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            if (method!.Name == nameof(IContainerEngine.LoadImagesAsync) && Interlocked.Decrement(ref Refuse) >= 0)
            {
                Interlocked.Increment(ref Refused);
                return Task.FromException(new ContainerEngineException("load refused", "this engine loads no archive"));
            }
            try
            {
                return method.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}

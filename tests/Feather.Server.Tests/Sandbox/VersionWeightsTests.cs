using System.Security.Cryptography;
using Feather.Server.Blobs;
using Feather.Server.Configuration;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

/// <summary>
/// Which files a container of a version image gets bound read-only (Runner:Weights=mount): read from the image's
/// label on the real engine, resolved in a real blob store on disk.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class VersionWeightsTests(RunnerFixture fx) : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("feather-weights-").FullName;
    private readonly List<string> _images = [];
    private IContainerEngine Engine => fx.Services.GetRequiredService<IContainerEngine>();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var image in _images)
            try { await Engine.RemoveImageAsync(image, default); } catch (ContainerEngineException) { }
        Directory.Delete(_data, recursive: true);
    }

    /// <summary>An image of nothing but labels (FROM scratch), built by the engine.</summary>
    private async Task<string> LabelledImageAsync(IReadOnlyDictionary<string, string> labels)
    {
        var tag = $"feather-test-weights:{Guid.NewGuid():n}";
        _images.Add(tag);
        using var context = new MemoryStream();
        await BuildContext.WriteDockerfileOnlyAsync(context, "FROM scratch\n" + BuildContext.LabelInstruction(labels), default);
        context.Position = 0;
        string? error = null;
        await Engine.BuildImageAsync(new ImageBuildSpec(tag, new Dictionary<string, string>(), 256L << 20, 1), context,
            new Progress<ImageBuildMessage>(m => error ??= m.Error), default);
        Assert.Null(error);
        return tag;
    }

    private (FileSystemBlobStore Store, FeatherOptions Options) Store()
    {
        var options = new FeatherOptions { DataDirectory = _data };
        return (new FileSystemBlobStore(options, NullLogger<FileSystemBlobStore>.Instance), options);
    }

    private static async Task<string> PutAsync(FileSystemBlobStore store, byte[] bytes)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var staged = await store.StageAsync("p1", sha, bytes.Length, new MemoryStream(bytes), default);
        Assert.Equal(StageOutcome.Stored, staged.Outcome);
        store.Commit("p1", sha);
        return sha;
    }

    private VersionWeights Weights(FileSystemBlobStore store, FeatherOptions feather, string? hostData = null) =>
        new(Engine, Options.Create(new RunnerOptions { HostDataDirectory = hostData }), NullLogger<VersionWeights>.Instance, store, feather);

    [Fact]
    public void The_own_container_is_found_only_by_the_engines_binds_of_its_etc_files()
    {
        var id = new string('a', 64);
        var other = new string('b', 64);
        // inside a container: the engine binds its hostname file at /etc/hostname
        Assert.Equal(id, VersionWeights.ContainerIdFromMountInfo([
            "600 580 254:0 / / rw,relatime master:1 - overlay overlay rw",
            $"612 600 254:0 /var/lib/docker/containers/{id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw",
        ]));
        // on the engine's machine: another container's file mounted elsewhere is not this process's container
        Assert.Null(VersionWeights.ContainerIdFromMountInfo([
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            $"700 22 254:0 /var/lib/docker/containers/{other}/hostname /srv/other/etc/hostname rw - ext4 /dev/vda rw",
            $"701 22 0:50 / /var/lib/docker/containers/{other}/mounts/shm rw - tmpfs shm rw",
        ]));
    }

    [Fact]
    public async Task Each_weights_file_the_label_names_is_bound_read_only_from_the_blob_store_at_its_model_path()
    {
        var (store, feather) = Store();
        var a = await PutAsync(store, RandomNumberGenerator.GetBytes(4096));
        var b = await PutAsync(store, RandomNumberGenerator.GetBytes(2048));
        var image = await LabelledImageAsync(new Dictionary<string, string>
        {
            [VersionWeights.MountsLabel] = VersionWeights.Describe([new WeightFile("weights/b c+d.pt", b), new WeightFile("a.bin", a)]),
        });

        var binds = await Weights(store, feather).BindsAsync(image, default);
        Assert.Equal([(store.BlobPath(a), "/model/a.bin"), (store.BlobPath(b), "/model/weights/b c+d.pt")],
            binds.Select(m => (m.Source, m.Target)).ToList());
        // stored blobs are read-only for everyone: the step's unprivileged user can read them, nobody writes them
        if (!OperatingSystem.IsWindows()) Assert.Equal(FileSystemBlobStore.StoredMode, File.GetUnixFileMode(store.BlobPath(a)));

        // with the data directory elsewhere on the engine's machine (the server in a container), the same files there
        var moved = await Weights(store, feather, "/srv/feather-data").BindsAsync(image, default);
        Assert.Equal(["/srv/feather-data/blobs/" + a[..2] + "/" + a[2..], "/srv/feather-data/blobs/" + b[..2] + "/" + b[2..]],
            moved.Select(m => m.Source).ToList());
    }

    [Fact]
    public async Task An_image_holding_its_weights_gets_no_binds_and_a_missing_blob_fails_with_the_files_name()
    {
        var (store, feather) = Store();
        var plain = await LabelledImageAsync(new Dictionary<string, string> { ["org.feather.image"] = "version" });
        Assert.Empty(await Weights(store, feather).BindsAsync(plain, default));
        Assert.Empty(await Weights(store, feather).BindsAsync("feather-test-weights:no-such-image", default));

        var sha = await PutAsync(store, RandomNumberGenerator.GetBytes(1024));
        var image = await LabelledImageAsync(new Dictionary<string, string>
        {
            [VersionWeights.MountsLabel] = VersionWeights.Describe([new WeightFile("weights/w.bin", sha)]),
        });
        Assert.True(store.Delete(sha));
        var e = await Assert.ThrowsAsync<WeightsUnavailableException>(() => Weights(store, feather).BindsAsync(image, default));
        Assert.Contains("the weights file weights/w.bin of this version", e.Message);
        Assert.Contains("publish the version again", e.Message);
    }

    [Theory]
    [InlineData("""[{"path":"../../etc/shadow","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]""")]
    [InlineData("""[{"path":"/etc/shadow","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]""")]
    [InlineData("""[{"path":"w.bin","sha256":"../../../../etc/shadow"}]""")]
    [InlineData("""{"path":"w.bin"}""")]
    public async Task A_label_naming_a_path_outside_model_or_a_non_hash_is_refused(string label)
    {
        var (store, feather) = Store();
        var image = await LabelledImageAsync(new Dictionary<string, string> { [VersionWeights.MountsLabel] = label });
        var e = await Assert.ThrowsAsync<WeightsUnavailableException>(() => Weights(store, feather).BindsAsync(image, default));
        Assert.Contains(VersionWeights.MountsLabel, e.Message);
    }
}

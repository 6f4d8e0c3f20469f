using Docker.DotNet;
using Docker.DotNet.Models;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Environments;

/// <summary>The removal policy as a pure function.</summary>
public sealed class ImageRetentionPlanTests
{
    private static readonly DateTime Now = new(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime Old = Now.AddDays(-30);

    private static ManagedImage Version(string tag, string hash, string owner = "me", DateTime? created = null) =>
        new("id-" + tag, [tag], "version", hash, owner, created ?? Old);

    private static ManagedImage Env(string hash, string owner = "me", DateTime? created = null) =>
        new("id-env-" + hash, ["feather-env:" + hash], "environment", hash, owner, created ?? Old);

    private static string[] Plan(ManagedImage[] images, string[] keep, string[]? used = null) =>
        ImageRetention.Plan(images, "me", keep.ToHashSet(), (used ?? []).ToHashSet(), Now, TimeSpan.FromHours(1))
            .SelectMany(r => r.Tags).ToArray();

    [Fact]
    public void Unneeded_version_images_go_first_then_environments_nothing_builds_on()
    {
        var images = new[] { Env("h1"), Env("h2"), Version("v:live", "h1"), Version("v:old", "h1"), Version("v:gone", "h2") };
        Assert.Equal(["v:old", "v:gone", "feather-env:h2"], Plan(images, ["v:live"]));
    }

    [Fact]
    public void Images_in_use_by_a_container_young_images_and_other_servers_images_stay()
    {
        var images = new[]
        {
            Version("v:used", "h1"), Version("v:young", "h2", created: Now.AddMinutes(-10)), Version("v:theirs", "h3", owner: "other"),
            Env("h1"), Env("h2"), Env("h3"), Env("h4", created: Now.AddMinutes(-5)), Env("h5"),
        };
        Assert.Equal(["feather-env:h5"], Plan(images, [], used: ["id-v:used"]));
    }

    [Fact]
    public void A_shared_version_image_loses_only_its_unneeded_tags_and_its_environment_stays()
    {
        var shared = new ManagedImage("id-shared", ["v:1", "v:2"], "version", "h1", "me", Old);
        Assert.Equal(["v:1"], Plan([shared, Env("h1")], ["v:2"]));
    }

    [Fact]
    public void A_weights_image_goes_with_the_last_version_built_on_it_and_keeps_its_environment_until_then()
    {
        static ManagedImage Weights(string hash, string env) => new("id-w-" + hash, ["feather-weights:" + hash], "weights", env, "me", Old, hash);
        static ManagedImage On(string tag, string env, string weights) => new("id-" + tag, [tag], "version", env, "me", Old, weights);
        var images = new[] { Env("h1"), Env("h2"), Weights("w1", "h1"), Weights("w2", "h2"), On("v:1", "h1", "w1"), On("v:2", "h2", "w2"), On("v:3", "h2", "w2") };
        // v:3 is live: w2 and h2 stay, through the weights image alone once v:2 goes
        Assert.Equal(["v:1", "v:2", "feather-weights:w1", "feather-env:h1"], Plan(images, ["v:3"]));
        // a weights image no version needs yet, but the environment of a live version builds on, stays while it is young
        Assert.Empty(Plan([Env("h1"), On("v:1", "h1", ""), Weights("w9", "h1") with { Created = Now.AddMinutes(-5) }], ["v:1"]));
    }

    [Fact]
    public void An_environment_used_by_another_servers_version_stays()
    {
        var images = new[] { Env("h1"), Version("v:theirs", "h1", owner: "other") };
        Assert.Empty(Plan(images, []));
    }
}

/// <summary>The policy against the real engine with labelled test images; only this test's images are touched.</summary>
[Collection(DockerCollection.Name)]
public sealed class ImageJanitorTests(RunnerFixture fx)
{
    private sealed class KeepList(params string[] keep) : IImageKeepList
    {
        public List<string> Removed { get; } = [];
        public IReadOnlySet<string> VersionImagesToKeep(DateTime since) => keep.ToHashSet();
        public void ImageRemoved(string versionImage, string reason) => Removed.Add(versionImage);
    }

    private async Task<string> BuildAsync(string tag, string from, Dictionary<string, string> labels)
    {
        var dockerfile = $"FROM {from}\n" + string.Join("", labels.Select(l => $"LABEL {l.Key}=\"{l.Value}\"\n"));
        using var context = new MemoryStream();
        await BuildContext.WriteDockerfileOnlyAsync(context, dockerfile, default);
        context.Position = 0;
        await fx.Docker.Images.BuildImageFromDockerfileAsync(new ImageBuildParameters { Tags = [tag], Remove = true },
            context, null, null, new Progress<JSONMessage>(), default);
        fx.Track(tag);
        return (await fx.Docker.Images.InspectImageAsync(tag, default)).ID;
    }

    private Dictionary<string, string> Labels(string kind, string hash, string owner) => new()
    {
        ["org.feather.managed"] = "true", ["org.feather.owner"] = owner, ["org.feather.image"] = kind,
        ["org.feather.env-hash"] = hash, ["org.feather.test"] = fx.InstanceId,
    };

    private Dictionary<string, string> Labels(string kind, string hash, string owner, string name) =>
        new(Labels(kind, hash, owner)) { ["org.feather.test-name"] = name }; // distinct images, not one image under two tags

    private async Task<bool> ExistsAsync(string tag)
    {
        try { await fx.Docker.Images.InspectImageAsync(tag, default); return true; }
        catch (DockerImageNotFoundException) { return false; }
    }

    [Fact]
    public async Task Unused_images_are_removed_and_needed_or_busy_ones_stay()
    {
        var id = fx.InstanceId;
        var owner = "janitor-" + id;
        string T(string name) => $"feather-test-retention:{id}-{name}";
        await BuildAsync(T("env1"), "feather-base:bookworm", Labels("environment", "h1-" + id, owner, "env1"));
        await BuildAsync(T("env2"), "feather-base:bookworm", Labels("environment", "h2-" + id, owner, "env2"));
        await BuildAsync(T("live"), T("env1"), Labels("version", "h1-" + id, owner, "live"));
        await BuildAsync(T("old"), T("env1"), Labels("version", "h1-" + id, owner, "old"));
        await BuildAsync(T("busy"), T("env2"), Labels("version", "h2-" + id, owner, "busy"));
        await BuildAsync(T("gone"), T("env2"), Labels("version", "h2-" + id, owner, "gone"));
        await BuildAsync(T("theirs"), "feather-base:bookworm", Labels("environment", "h3-" + id, "someone-else-" + id, "theirs"));
        var container = await fx.Docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = T("busy"), Name = "feather-retention-" + id, Entrypoint = ["true"],
            Labels = new Dictionary<string, string> { ["org.feather.owner"] = fx.InstanceId },
        }, default); // created, never started: it still holds its image
        try
        {
            var keep = new KeepList(T("live"));
            var janitor = new ImageJanitor(fx.Services.GetRequiredService<IContainerEngine>(), keep,
                Options.Create(new RunnerOptions { InstanceId = owner }), Options.Create(new ImageRetentionOptions { KeepDays = 7 }),
                NullLogger<ImageJanitor>.Instance);

            // Just built: younger than the minimum age, nothing goes.
            Assert.Empty(await janitor.RunOnceAsync(DateTime.UtcNow, default));

            var removed = await janitor.RunOnceAsync(DateTime.UtcNow.AddDays(1), default);
            Assert.Equal([T("old"), T("gone")], removed.Select(r => r.Tags.Single()).Order().Reverse().ToArray());
            Assert.Equal([T("old"), T("gone")], keep.Removed.Order().Reverse().ToArray());
            Assert.False(await ExistsAsync(T("old")));
            Assert.False(await ExistsAsync(T("gone")));
            Assert.True(await ExistsAsync(T("live")));   // needed
            Assert.True(await ExistsAsync(T("env1")));   // live builds on it
            Assert.True(await ExistsAsync(T("busy")));   // a container uses it
            Assert.True(await ExistsAsync(T("env2")));   // busy builds on it
            Assert.True(await ExistsAsync(T("theirs"))); // another server's

            // Once the container is gone, its image and then the environment go too.
            await fx.Docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true }, default);
            removed = await janitor.RunOnceAsync(DateTime.UtcNow.AddDays(1), default);
            Assert.Equal([T("busy"), T("env2")], removed.Select(r => r.Tags.Single()).ToArray());
            Assert.True(await ExistsAsync(T("env1")));
        }
        finally
        {
            await fx.Docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true }, default)
                .ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}

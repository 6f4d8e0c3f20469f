using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Sandbox;

namespace Feather.Server.Environments;

/// <summary>
/// A version image made without a build: the configuration of its base image (the environment, or the weights image)
/// with the version's labels added, and one more layer holding the version's code under /model, handed to the engine
/// as a docker-archive (the format of <c>docker save</c>) that leaves out the base's layers, which the engine holds.
/// <para>
/// Why: with the engine's classic builder, <c>FROM base</c> + <c>COPY model/ /model/</c> takes 0.05 s, but the
/// <c>LABEL</c> that names the version (and the weights its steps get mounted) commits an intermediate container and
/// takes the build to 0.2 s, the one step between a finished upload and a runnable version. A load of the archive
/// takes about 0.05 s and leaves no container behind (docs/benchmarks.md). The image is the one the build makes: the
/// base's layers, then the code layer as <c>COPY</c> writes it (<see cref="BuildContext.WriteCodeLayerAsync"/>), the
/// base's configuration (user, environment, entrypoint, working directory, its labels) with the version's labels on
/// top. Two differences: the image has no build history (<c>docker history</c> of its environment image has it), and
/// no parent image in the engine (nothing here uses either; the retention policy follows the environment-hash label).
/// </para>
/// <para>
/// An engine that needs every layer in the archive (probably Docker's containerd image store; not tried) refuses the
/// load; the builder then builds the image with a Dockerfile as before (DockerImageBuilder), the same image by
/// another route, and after three refusals in a row stops trying.
/// </para>
/// </summary>
public static class VersionImageArchive
{
    /// <summary>The image configuration (JSON): the base's platform and container configuration, its labels plus
    /// <paramref name="labels"/> (which win), its layers plus <paramref name="layerDiffId"/>.</summary>
    public static byte[] Configuration(EngineImageConfig baseImage, IReadOnlyDictionary<string, string> labels, string layerDiffId, DateTime created)
    {
        var config = (JsonObject)baseImage.Config.DeepClone();
        var merged = config["Labels"] as JsonObject ?? [];
        config["Labels"] = merged;
        foreach (var (key, value) in labels) merged[key] = value;
        var image = new JsonObject
        {
            ["architecture"] = baseImage.Architecture,
            ["os"] = baseImage.Os,
            ["created"] = created.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["config"] = config,
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. baseImage.DiffIds.Select(d => (JsonNode?)JsonValue.Create(d)), JsonValue.Create(layerDiffId)]),
            },
        };
        if (baseImage.Variant is { } variant) image["variant"] = variant;
        return Encoding.UTF8.GetBytes(image.ToJsonString());
    }

    /// <summary>The image id a configuration gets (sha256:&lt;hex of its bytes&gt;).</summary>
    public static string ImageId(byte[] configuration) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(configuration));

    /// <summary>
    /// Writes the archive: the configuration, the code layer (read from <paramref name="layer"/>, seekable) and a
    /// manifest that tags the image <paramref name="tag"/> and names the base's layers by paths the archive does not
    /// hold (the engine has those layers and reads no file for them).
    /// </summary>
    public static async Task WriteAsync(Stream output, string tag, byte[] configuration, IReadOnlyList<string> baseDiffIds,
        string layerDiffId, Stream layer, CancellationToken ct)
    {
        var configName = ImageId(configuration)["sha256:".Length..] + ".json";
        var layerName = layerDiffId["sha256:".Length..] + "/layer.tar";
        var layers = baseDiffIds.Select(d => d["sha256:".Length..] + "/layer.tar").Append(layerName).ToList();
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new[] { new Manifest(configName, [tag], layers) });
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteAsync(tar, configName, new MemoryStream(configuration), ct);
        await WriteAsync(tar, layerName, layer, ct);
        await WriteAsync(tar, "manifest.json", new MemoryStream(manifest), ct);
    }

    private static Task WriteAsync(TarWriter tar, string name, Stream content, CancellationToken ct) =>
        tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            ModificationTime = DateTimeOffset.UnixEpoch,
            DataStream = content,
        }, ct);

    private sealed record Manifest(
        [property: System.Text.Json.Serialization.JsonPropertyName("Config")] string Config,
        [property: System.Text.Json.Serialization.JsonPropertyName("RepoTags")] IReadOnlyList<string> RepoTags,
        [property: System.Text.Json.Serialization.JsonPropertyName("Layers")] IReadOnlyList<string> Layers);
}

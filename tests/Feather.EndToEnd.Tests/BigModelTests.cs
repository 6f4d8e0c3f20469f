using System.Security.Cryptography;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// A model with more than 2 GiB of weights (two 1.1 GiB files) publishes through bin/feather, its version image
/// builds, and a step reads every byte of its weights back; a second version that changes only code builds on the
/// same weights image; the server never holds a file in memory on the way (its peak resident memory stays far
/// below the weights' size). The weights are generated here, mostly sparse
/// with random blocks so that order and content matter, and removed afterwards with the server's images.
/// </summary>
public sealed class BigModelTests : IClassFixture<FeatherServer>, IAsyncLifetime
{
    private const long FileBytes = 1100L * 1024 * 1024;
    /// <summary>
    /// The server's peak resident memory allowed over the whole test. It idles at about 120 MiB; the build context
    /// used to be assembled in memory (the weights' size, and "Stream was too long" past 2 GiB).
    /// </summary>
    private const long MaxServerPeakBytes = 512L * 1024 * 1024;

    private readonly FeatherServer server;
    private readonly ITestOutputHelper output;
    private readonly string dir = Directory.CreateTempSubdirectory("feather-bigmodel-").FullName;

    public BigModelTests(FeatherServer server, ITestOutputHelper output)
    {
        this.server = server;
        this.output = output;
    }

    private string? weightsImage;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        // untagged now, removed with the last version image built on it when the server's fixture removes those
        if (weightsImage is not null) await FeatherServer.Docker("rmi", weightsImage);
    }

    private const string ModelPy = """
        import hashlib
        import os

        import feather as ftr


        def init():
            return ftr.Text.In(default_text="weights", title="Folder")


        @ftr.step(title="Read the weights", outputs=["report"])
        def read(folder: ftr.Text.In) -> ftr.Text.View:
            lines = []
            for name in sorted(os.listdir(folder.get()[0])):
                digest, size = hashlib.sha256(), 0
                with open(os.path.join(folder.get()[0], name), "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                lines.append(f"{name} {size} {digest.hexdigest()}")
            return ftr.Text.View("\n".join(lines), title="Weights")


        ftr.build(name="big-weights", init=init, steps=[read], profile="medium",
                  file_bundle=ftr.bundle(code_files=["model.py"], model_files=["weights/*"]),
                  description="Reads its weights back.")
        """;

    /// <summary>A sparse file of <see cref="FileBytes"/> with random 1 MiB blocks at its start, middle and end.</summary>
    private static string Weights(string path, int seed)
    {
        var random = new Random(seed);
        var block = new byte[1024 * 1024];
        using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            f.SetLength(FileBytes);
            foreach (var offset in new[] { 0, FileBytes / 2 + 12345, FileBytes - block.Length })
            {
                random.NextBytes(block);
                f.Position = offset;
                f.Write(block);
            }
        }
        using var read = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(read));
    }

    private async Task<JsonElement> VersionAsync(int number)
    {
        using var login = await server.Http.PostAsJsonAsync($"{server.Url}/api/auth/tokens",
            new { username = "admin", password = server.AdminPassword, name = "big-model-test", scopes = new[] { "read" } });
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{server.Url}/api/models/admin/big-weights/versions/{number}");
        request.Headers.Authorization = new("Bearer", token);
        using var response = await server.Http.SendAsync(request);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private long ServerPeakBytes()
    {
        var line = File.ReadLines($"/proc/{server.ProcessId}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    [Fact]
    public async Task A_version_over_2_GiB_publishes_and_a_step_reads_all_of_its_weights()
    {
        Directory.CreateDirectory(Path.Combine(dir, "weights"));
        File.WriteAllText(Path.Combine(dir, "model.py"), ModelPy);
        var expected = new[] { ("a.bin", 1), ("b.bin", 2) }
            .Select(w => $"{w.Item1} {FileBytes} {Weights(Path.Combine(dir, "weights", w.Item1), w.Item2)}")
            .ToArray();

        var clock = Stopwatch.StartNew();
        var publish = await server.Cli("publish", dir, "--wait");
        output.WriteLine($"publish --wait of {2 * FileBytes >> 20} MiB: {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(publish.ExitCode == 0, publish + "\n--- server\n" + server.ServerLog);
        Assert.Contains("image: ready", publish.Stdout);
        // the version's large files went into a weights image of their own (removed at the end)
        var versionImage = (await VersionAsync(1)).GetProperty("image").GetProperty("versionImage").GetString()!;
        var hash = (await FeatherServer.Docker("inspect", "--format", "{{index .Config.Labels \"org.feather.weights-hash\"}}", versionImage)).Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", hash);
        weightsImage = $"feather-weights:{hash[..16]}";

        var inputs = Path.Combine(dir, "inputs.json");
        File.WriteAllText(inputs, """{"steps": [{"folder": {"texts": ["weights"]}}]}""");
        var run = await server.Cli("run", "admin/big-weights", "--inputs", inputs, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var step = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps")[0];
        Assert.Equal("succeeded", step.GetProperty("status").GetString());
        var report = step.GetProperty("outputs")[0].GetProperty("value").GetProperty("texts")[0].GetString()!;
        Assert.Equal(expected, report.Split('\n'));

        // a version that changes only code builds on the same weights image: nothing of the weights is sent again
        File.AppendAllText(Path.Combine(dir, "model.py"), "# a code-only change\n");
        clock.Restart();
        var second = await server.Cli("publish", dir, "--wait");
        Assert.True(second.ExitCode == 0, second.ToString());
        output.WriteLine($"code-only second version, publish --wait: {clock.Elapsed.TotalSeconds:0.0} s");
        var log = (await VersionAsync(2)).GetProperty("image").GetProperty("log").GetString()!;
        Assert.Contains($"weights image {weightsImage} ", log);
        Assert.Matches(@"weights image feather-weights:[0-9a-f]{16} \(2 file\(s\), 2\.1 GiB\) already built; reusing it", log);

        var peak = ServerPeakBytes();
        output.WriteLine($"server peak resident memory: {peak >> 20} MiB");
        Assert.True(peak < MaxServerPeakBytes,
            $"the server's peak resident memory was {peak / (1024 * 1024)} MiB while publishing {2 * FileBytes / (1024 * 1024)} MiB of weights");
    }
}

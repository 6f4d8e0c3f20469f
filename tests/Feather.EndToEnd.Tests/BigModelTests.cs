using System.Security.Cryptography;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// A model with more than 2 GiB of weights (two 1.1 GiB files) publishes through bin/feather, its version image
/// builds without them (Runner:Weights=mount, the default), and a step reads every byte of its weights back from the
/// read-only binds and can neither change nor remove them; a second version that changes only code mounts the same
/// stored files; the server never holds a file in memory on the way (its peak resident memory stays far below the
/// weights' size). The weights are generated here, mostly sparse with random blocks so that order and content
/// matter, and removed afterwards with the server's images.
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

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        await Task.CompletedTask;
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
            for name in sorted(os.listdir(folder.get()[0])):
                path = os.path.join(folder.get()[0], name)
                for what, attempt in [("write", lambda: open(path, "r+b").write(b"x")),
                                      ("remove", lambda: os.remove(path)),
                                      ("rename", lambda: os.rename(path, path + ".moved")),
                                      ("chmod", lambda: os.chmod(path, 0o666))]:
                    try:
                        attempt()
                        lines.append(f"{name} {what} allowed")
                    except OSError as e:
                        lines.append(f"{name} {what} refused")
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
        // the version's large files stayed out of its image: the image names them, and it is its environment plus code
        var versionImage = (await VersionAsync(1)).GetProperty("image").GetProperty("versionImage").GetString()!;
        var mounts = (await FeatherServer.Docker("inspect", "--format", "{{index .Config.Labels \"org.feather.weights-mounts\"}}", versionImage)).Stdout.Trim();
        var named = JsonDocument.Parse(mounts).RootElement.EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToList();
        Assert.Equal(["weights/a.bin", "weights/b.bin"], named);
        var imageBytes = long.Parse((await FeatherServer.Docker("image", "inspect", "--format", "{{.Size}}", versionImage)).Stdout.Trim());
        Assert.True(imageBytes < FileBytes / 2, $"the version image is {imageBytes >> 20} MiB: the weights went into it");

        var inputs = Path.Combine(dir, "inputs.json");
        File.WriteAllText(inputs, """{"steps": [{"folder": {"texts": ["weights"]}}]}""");
        var run = await server.Cli("run", "admin/big-weights", "--inputs", inputs, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var step = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps")[0];
        Assert.Equal("succeeded", step.GetProperty("status").GetString());
        var report = step.GetProperty("outputs")[0].GetProperty("value").GetProperty("texts")[0].GetString()!;
        Assert.Equal(expected, report.Split('\n').Take(2));
        // the binds are read-only: the step cannot change, remove, move or re-permission its weights
        Assert.Equal(new[] { "a.bin", "b.bin" }.SelectMany(n => new[] { $"{n} write refused", $"{n} remove refused", $"{n} rename refused", $"{n} chmod refused" }),
            report.Split('\n').Skip(2));

        // a version that changes only code: nothing of the weights is sent or copied again, it names the same stored files
        File.AppendAllText(Path.Combine(dir, "model.py"), "# a code-only change\n");
        clock.Restart();
        var second = await server.Cli("publish", dir, "--wait");
        Assert.True(second.ExitCode == 0, second.ToString());
        output.WriteLine($"code-only second version, publish --wait: {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("1 file(s) uploaded, 2 already stored", second.Stdout);
        var v2 = (await VersionAsync(2)).GetProperty("image");
        Assert.Contains("2 weights file(s) of 1 MiB or more, 2.1 GiB, stay in the blob store", v2.GetProperty("log").GetString());
        var mounts2 = (await FeatherServer.Docker("inspect", "--format", "{{index .Config.Labels \"org.feather.weights-mounts\"}}",
            v2.GetProperty("versionImage").GetString()!)).Stdout.Trim();
        Assert.Equal(mounts, mounts2);

        var peak = ServerPeakBytes();
        output.WriteLine($"server peak resident memory: {peak >> 20} MiB");
        Assert.True(peak < MaxServerPeakBytes,
            $"the server's peak resident memory was {peak / (1024 * 1024)} MiB while publishing {2 * FileBytes / (1024 * 1024)} MiB of weights");
    }
}

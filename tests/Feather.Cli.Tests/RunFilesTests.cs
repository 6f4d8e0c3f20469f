using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>
/// <c>feather run</c> with step files against the REAL server: a response names a local file as <c>{"path"}</c>,
/// the CLI streams it into the run (no base64), and <c>--download DIR</c> streams the step's output files to disk.
/// The model is tests/models/files (a .pt upload given back as a File.Download; step 1 reads step 0's download).
/// </summary>
[Collection(RealServerCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class RunFilesTests(RealServer server)
{
    private static async Task PublishFilesModel(BuiltCli cli)
    {
        var published = await cli.RunAsync(TimeSpan.FromMinutes(10), "publish", Path.Combine(RealServer.RepoRoot, "tests", "models", "files"), "--wait");
        Assert.True(published.ExitCode == 0, published.Out + published.Err);
    }

    [Fact]
    public async Task Run_streams_a_local_file_into_the_step_and_downloads_the_output_file()
    {
        using var cli = server.Cli();
        using var dir = new TempDir();
        await PublishFilesModel(cli);
        var weights = Path.Combine(dir.Path, "data", "weights.pt");
        Directory.CreateDirectory(Path.GetDirectoryName(weights)!);
        var bytes = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        await File.WriteAllBytesAsync(weights, bytes);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        // the path is relative to the inputs file
        var inputs = dir.File("inputs.json", """{"steps": [{"weights": {"files": [{"path": "data/weights.pt"}]}}, {}]}""");
        var downloads = Path.Combine(dir.Path, "downloads");

        var result = await cli.RunAsync(TimeSpan.FromMinutes(6), "run", "admin/files", "--inputs", inputs, "--download", downloads);
        Assert.True(result.ExitCode == 0, result.Out + result.Err);
        // the step read every byte of the file that was sent
        Assert.Contains($"{bytes.Length} {digest}", result.Out);
        Assert.Contains("uploading weights.pt (3.0 MiB)", result.Err);
        var saved = Path.Combine(downloads, "back-weights.pt");
        Assert.Contains($"saved {saved}", result.Out);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(saved));
        Assert.False(File.Exists(saved + ".part"));

        // what the server kept for step 0 is a reference to a file of the run, never base64
        var json = await cli.RunAsync(TimeSpan.FromMinutes(6), "run", "admin/files", "--inputs", inputs, "--json");
        Assert.True(json.ExitCode == 0, json.Out + json.Err);
        var run = JsonNode.Parse(json.Out)!;
        var copy = run["steps"]![0]!["outputs"]![0]!["value"]!["files"]![0]!.AsObject();
        Assert.Null(copy["data"]);
        Assert.Equal(bytes.Length, copy["size"]!.GetValue<long>());
        Assert.Equal($"/api/runs/{run["id"]}/files/{copy["file"]}", copy["url"]!.GetValue<string>());
        Assert.Equal($"{bytes.Length} {digest}", run["steps"]![1]!["outputs"]![0]!["value"]!["texts"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task A_missing_local_file_is_refused_before_the_step_is_sent()
    {
        using var cli = server.Cli();
        using var dir = new TempDir();
        await PublishFilesModel(cli);
        var missing = dir.File("missing.json", """{"steps": [{"weights": {"files": [{"path": "nope.pt"}]}}]}""");
        var result = await cli.RunAsync(TimeSpan.FromMinutes(2), "run", "admin/files", "--inputs", missing);
        Assert.Equal((int)ExitCodes.ValidationFailed, result.ExitCode);
        Assert.Contains("step 0: the file nope.pt does not exist", result.Err);
    }
}

using System.Text.Json.Nodes;

namespace Feather.Cli.Tests;

/// <summary>`feather datasets publish|list|show` with the built CLI against the real feather-server, on a copy of samples/datasets/digits-heldout.</summary>
[Collection(RealServerCollection.Name)]
public sealed class DatasetCommandsTests(RealServer server) : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>A copy of the sample dataset under a fresh name (tests share the server).</summary>
    private (string Dir, string Name) CopySample(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        var source = Path.Combine(RealServer.RepoRoot, "samples", "datasets", "digits-heldout");
        var target = Path.Combine(_dir.Path, name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(target, "dataset.json")))!;
        manifest["name"] = name;
        File.WriteAllText(Path.Combine(target, "dataset.json"), manifest.ToJsonString());
        return (target, name);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Publish_makes_versions_and_list_and_show_find_them()
    {
        var (dir, name) = CopySample("digits");
        using var cli = server.Cli();
        var first = await cli.RunAsync(TimeSpan.FromMinutes(2), "datasets", "publish", dir, "--visibility", "public", "--json");
        Assert.True(first.ExitCode == 0, first.Err);
        var done = JsonNode.Parse(first.Out)!;
        Assert.Equal(1, done["version"]!.GetValue<int>());
        Assert.Equal(450, done["recordCount"]!.GetValue<long>());
        // records.csv and 450 images: sent now, or already in the blob store when another test on this
        // shared server published the same files (the store is content-addressed)
        Assert.Equal(451, done["uploaded"]!.AsArray().Count + done["alreadyStored"]!.AsArray().Count);

        var second = await cli.RunAsync(TimeSpan.FromMinutes(2), "datasets", "publish", dir, "--json");
        Assert.True(second.ExitCode == 0, second.Err);
        var again = JsonNode.Parse(second.Out)!;
        Assert.Equal(2, again["version"]!.GetValue<int>());
        Assert.Empty(again["uploaded"]!.AsArray());
        Assert.Equal(451, again["alreadyStored"]!.AsArray().Count);

        var list = await cli.RunAsync("datasets", "list", "--task", "image-classification");
        Assert.True(list.ExitCode == 0, list.Err);
        Assert.Contains($"admin/{name}", list.Out);
        Assert.Contains("RECORDS", list.Out);
        Assert.DoesNotContain(name, (await cli.RunAsync("datasets", "list", "--task", "regression")).Out);

        var show = await cli.RunAsync("datasets", "show", $"admin/{name}");
        Assert.True(show.ExitCode == 0, show.Err);
        Assert.Contains("task: image-classification   split: test   records: 450   latest version: 2   visibility: public", show.Out);
        Assert.Contains("label (hidden from models)", show.Out);
        Assert.Contains("images/0000.png", show.Out);
        Assert.Contains("Alpaydin", show.Out);

        var version = JsonNode.Parse((await cli.RunAsync("datasets", "show", $"admin/{name}@1", "--json")).Out)!;
        Assert.Equal(1, version["number"]!.GetValue<int>());
        Assert.Equal(451, version["files"]!.AsArray().Count);
        Assert.Equal((int)ExitCodes.NotFound, (await cli.RunAsync("datasets", "show", $"admin/{name}@3")).ExitCode);
    }

    [Fact]
    public async Task A_wrong_record_is_refused_before_uploading_with_its_line_and_field()
    {
        var (dir, name) = CopySample("broken");
        var records = File.ReadAllLines(Path.Combine(dir, "records.csv"));
        records[4] = "images/0003.png,eleven";
        records[6] = "../../etc/passwd.png,1";
        File.WriteAllLines(Path.Combine(dir, "records.csv"), records);
        using var cli = server.Cli();
        var refused = await cli.RunAsync("datasets", "publish", dir);
        Assert.Equal((int)ExitCodes.ValidationFailed, refused.ExitCode);
        Assert.Contains("records.csv line 5, field 'label': 'eleven' is not one of the declared classes", refused.Err);
        Assert.Contains("records.csv line 7, field 'image': '../../etc/passwd.png': the path leads out of the dataset directory", refused.Err);
        Assert.Equal((int)ExitCodes.NotFound, (await cli.RunAsync("datasets", "show", $"admin/{name}")).ExitCode);
    }

    [Fact]
    public async Task A_wrong_manifest_is_refused_with_the_field_named()
    {
        var (dir, _) = CopySample("manifest");
        var path = Path.Combine(dir, "dataset.json");
        var manifest = JsonNode.Parse(File.ReadAllText(path))!;
        manifest["task"] = "digit-guessing";
        manifest["fields"]![1]!["role"] = "input";
        File.WriteAllText(path, manifest.ToJsonString());
        using var cli = server.Cli();
        var refused = await cli.RunAsync("datasets", "publish", dir);
        Assert.Equal((int)ExitCodes.ValidationFailed, refused.ExitCode);
        Assert.Contains("task: must be one of image-classification, text-classification, regression", refused.Err);

        manifest["task"] = "image-classification";
        File.WriteAllText(path, manifest.ToJsonString());
        var noLabel = await cli.RunAsync("datasets", "publish", dir);
        Assert.Equal((int)ExitCodes.ValidationFailed, noLabel.ExitCode);
        Assert.Contains("fields: no field has role 'label'", noLabel.Err);
    }
}

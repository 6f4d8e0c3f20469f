using System.Text;
using System.Text.Json;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The samples beyond hello and vqg, each published with bin/feather to bin/feather-server and
/// run in real containers with its example inputs; the outputs are the ones the samples' own
/// pytest tests (tests/python/test_samples_extra.py) check locally.
/// </summary>
[Collection("server")]
public sealed class SampleTests(FeatherServer server)
{
    [Fact]
    public async Task Image_classifier_labels_the_example_digits_3_7_0()
    {
        var steps = await PublishAndRun("image-classifier");
        var outputs = Outputs(steps[0]);
        var labels = outputs["labels"];
        Assert.Equal("Image.View", labels.GetProperty("component").GetString());
        Assert.Equal(["digit-3.png", "digit-7.png", "digit-0.png"],
            labels.GetProperty("value").GetProperty("images").EnumerateArray().Select(b => b.GetProperty("name").GetString()!).ToArray());
        var captions = Texts(labels);
        Assert.Equal(["3", "7", "0"], captions.Select(c => c.Split(' ')[0]).ToArray());
        foreach (var caption in captions)
        {
            var percent = double.Parse(caption.Split('(')[1].TrimEnd(')', '%'), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(percent, 50.0001, 100);
        }
        var lines = Texts(outputs["probabilities"]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("digit-3.png: 3 (3: ", lines[0]);
    }

    [Fact]
    public async Task Digits_centroid_labels_the_example_digits_3_7_0()
    {
        var steps = await PublishAndRun("digits-centroid");
        var outputs = Outputs(steps[0]);
        Assert.Equal("Image.View", outputs["labels"].GetProperty("component").GetString());
        Assert.Equal(["3", "7", "0"], Texts(outputs["labels"]).Select(c => c.Split(' ')[0]).ToArray());
        var lines = Texts(outputs["distances"]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("digit-3.png: 3 (3: ", lines[0]);
    }

    [Fact]
    public async Task Text_tools_offers_keywords_and_exports_csv()
    {
        var steps = await PublishAndRun("text-tools");
        var offered = Outputs(steps[0]);
        Assert.Equal("List.SelectMulti", offered["keywords"].GetProperty("component").GetString());
        Assert.Equal(["container (4)", "model (3)", "step (3)", "run (2)"],
            offered["keywords"].GetProperty("value").GetProperty("items").EnumerateArray().Take(4).Select(i => i.GetString()!).ToArray());
        Assert.Equal(["CSV", "JSON", "Markdown table"],
            offered["format"].GetProperty("value").GetProperty("items").EnumerateArray().Select(i => i.GetString()!).ToArray());

        var final = Outputs(steps[1]);
        var file = final["report"].GetProperty("value").GetProperty("files")[0];
        Assert.Equal("keywords.csv", file.GetProperty("name").GetString());
        Assert.Equal("text/csv", file.GetProperty("media_type").GetString());
        var csv = Encoding.UTF8.GetString(await server.FileBytesAsync(file)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("word,count,share,sentences,context", csv[0].TrimEnd('\r'));
        Assert.StartsWith("container,4,0.0563,1 2 3 5,", csv[1]);
        Assert.Equal(["container", "model", "step"], csv.Skip(1).Select(l => l.Split(',')[0]).ToArray());
        Assert.Equal("3 keyword(s) of 71 words in 5 sentences, as CSV:", Texts(final["summary"])[0]);
    }

    [Fact]
    public async Task Doc_annotator_highlights_terms_in_both_documents()
    {
        var steps = await PublishAndRun("doc-annotator");
        var first = Outputs(steps[0]);
        Assert.Equal("Document.WithTextIn", first["terms"].GetProperty("component").GetString());
        Assert.Equal([5, 3], first["line_counts"].GetProperty("value").EnumerateArray().Select(n => n.GetInt32()).ToArray());

        var view = Outputs(steps[1])["annotated"];
        Assert.Equal("Document.View", view.GetProperty("component").GetString());
        Assert.Equal(["sandbox.md: 3 of 4 term(s) found in 5 lines", "publishing.txt: 2 of 2 term(s) found in 3 lines"], Texts(view));
        var docs = new List<(string Name, string Text)>();
        foreach (var d in view.GetProperty("value").GetProperty("documents").EnumerateArray())
            docs.Add((d.GetProperty("name").GetString()!, Encoding.UTF8.GetString(await server.FileBytesAsync(d))));
        Assert.Equal(["sandbox.annotated.md", "publishing.annotated.md"], docs.Select(d => d.Name).ToArray());
        Assert.Contains("The **container** has no network and a **read-only root**.", docs[0].Text);
        Assert.Contains("- GPU: not found", docs[0].Text);
        Assert.Contains("Versions are immutable; the live **version** is", docs[1].Text);
    }

    [Fact]
    public async Task Image_tools_filters_and_captions_the_images()
    {
        var steps = await PublishAndRun("image-tools");
        Assert.Equal(3, steps.Length);
        var filters = Outputs(steps[0])["filters"];
        Assert.Equal("Image.WithSelectOne", filters.GetProperty("component").GetString());
        foreach (var list in filters.GetProperty("value").GetProperty("lists").EnumerateArray())
            Assert.Equal(["original", "greyscale", "edges", "invert", "posterize"], list.EnumerateArray().Select(i => i.GetString()!).ToArray());

        var captions = Outputs(steps[1])["captions"];
        Assert.Equal("Image.WithTextIn", captions.GetProperty("component").GetString());
        Assert.Equal(["astronaut-invert.png", "cameraman-edges.png"],
            captions.GetProperty("value").GetProperty("images").EnumerateArray().Select(b => b.GetProperty("name").GetString()!).ToArray());

        var final = Outputs(steps[2]);
        Assert.Equal(["An astronaut, inverted: the white suit turns dark.", "Edges of the cameraman"], Texts(final["captioned"]));
        var downloads = final["files"].GetProperty("value").GetProperty("files").EnumerateArray().ToArray();
        Assert.Equal(["astronaut-invert-captioned.png", "cameraman-edges-captioned.png"], downloads.Select(b => b.GetProperty("name").GetString()!).ToArray());
        var viewed = new List<byte[]>();
        foreach (var b in final["captioned"].GetProperty("value").GetProperty("images").EnumerateArray()) viewed.Add(await server.FileBytesAsync(b));
        var downloaded = new List<byte[]>();
        foreach (var b in downloads) downloaded.Add(await server.FileBytesAsync(b));
        Assert.Equal(viewed, downloaded);
        var png = viewed[0];
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Take(4).ToArray());
    }

    [Fact]
    public async Task Republishing_with_one_changed_file_uploads_only_that_file_and_makes_version_2()
    {
        // A copy of the classifier under a name of its own, so the samples stay untouched and the
        // version numbers do not depend on the other tests.
        var name = "classifier-" + Guid.NewGuid().ToString("N")[..8];
        var dir = Path.Combine(Directory.CreateTempSubdirectory("feather-e2e-sample-").FullName, name);
        try
        {
            CopyDirectory(Path.Combine(server.RepoRoot, "samples", "image-classifier"), dir);
            var model = Path.Combine(dir, "model.py");
            var code = await File.ReadAllTextAsync(model);
            Assert.Contains("name=\"image-classifier\"", code);
            await File.WriteAllTextAsync(model, code.Replace("name=\"image-classifier\"", $"name=\"{name}\""));

            var first = await server.Cli("publish", dir, "--wait");
            Assert.True(first.ExitCode == 0, first.ToString());
            Assert.Contains($"published admin/{name} version 1", first.Stdout);

            await File.AppendAllTextAsync(model, "\n# a second version: only this file changed\n");
            var second = await server.Cli("publish", dir, "--wait");
            Assert.True(second.ExitCode == 0, second.ToString());
            var all = second.Stdout + second.Stderr;
            Assert.Contains($"published admin/{name} version 2", second.Stdout);
            Assert.Contains("weights.npz: already stored, skipped", all);
            Assert.DoesNotContain("model.py: already stored", all);
            Assert.Contains("uploaded model.py", all);
            Assert.DoesNotContain("uploaded weights.npz", all);
            Assert.Contains("1 file(s) uploaded, 1 already stored", second.Stdout);

            var versions = await server.Cli("versions", "list", $"admin/{name}", "--json");
            Assert.True(versions.ExitCode == 0, versions.ToString());
            var numbers = JsonDocument.Parse(versions.Stdout).RootElement.EnumerateArray().Select(v => v.GetProperty("number").GetInt32()).Order().ToArray();
            Assert.Equal([1, 2], numbers);

            // The new version runs, with the weights it shares with version 1.
            var run = await server.Cli("run", $"admin/{name}", "--inputs", "samples/image-classifier/example-inputs.json", "--json");
            Assert.True(run.ExitCode == 0, run.ToString());
            var root = JsonDocument.Parse(run.Stdout).RootElement;
            Assert.Equal(2, root.GetProperty("version").GetInt32());
            Assert.Equal(["3", "7", "0"], Texts(Outputs(root.GetProperty("steps")[0])["labels"]).Select(c => c.Split(' ')[0]).ToArray());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true);
        }
    }

    private async Task<JsonElement[]> PublishAndRun(string sample)
    {
        var publish = await server.Cli("publish", $"samples/{sample}", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());
        Assert.Contains("image: ready", publish.Stdout);
        var run = await server.Cli("run", $"admin/{sample}", "--inputs", $"samples/{sample}/example-inputs.json", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var steps = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps").EnumerateArray().ToArray();
        Assert.NotEmpty(steps);
        Assert.All(steps, s => Assert.Equal("succeeded", s.GetProperty("status").GetString()));
        return steps;
    }

    private static Dictionary<string, JsonElement> Outputs(JsonElement step) =>
        step.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);

    private static string[] Texts(JsonElement output) =>
        output.GetProperty("value").GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Contains("__pycache__")) continue;
            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

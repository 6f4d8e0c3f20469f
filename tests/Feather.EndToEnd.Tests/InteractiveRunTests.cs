using System.Text;
using System.Text.Json;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// <c>feather run OWNER/MODEL</c> without <c>--inputs</c>: the CLI asks for each step's inputs
/// from the version's metadata and the previous step's outputs. Standard input is redirected
/// here, so the tests pass <c>--interactive</c> (without it, redirected input is refused).
/// </summary>
[Collection("server")]
public sealed class InteractiveRunTests(FeatherServer server)
{
    [Fact]
    public async Task Text_tools_asks_for_the_text_then_keywords_and_format_by_number()
    {
        await Publish("text-tools");
        // Step 0: empty line = the default text. Step 1: keywords 2 and 1, then format 9 (refused,
        // asked again) and 2 (JSON).
        var run = await server.CliWithInput("\n2 1\n9\n2\n", "run", "admin/text-tools", "--interactive", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("step 0, Text (Text.In):", run.Stderr);
        Assert.Contains("1. container (4) *", run.Stderr);
        Assert.Contains("'9' is not a number from 1 to 3; try again", run.Stderr);

        var steps = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("steps");
        Assert.All(steps.EnumerateArray(), s => Assert.Equal("succeeded", s.GetProperty("status").GetString()));
        var report = steps[1].GetProperty("outputs").EnumerateArray().First(o => o.GetProperty("name").GetString() == "report")
            .GetProperty("value").GetProperty("files")[0];
        Assert.Equal("keywords.json", report.GetProperty("name").GetString());
        var rows = JsonDocument.Parse(await server.FileBytesAsync(report)).RootElement.EnumerateArray()
            .Select(r => (r.GetProperty("word").GetString(), r.GetProperty("count").GetInt32())).ToArray();
        Assert.Equal([("container", 4), ("model", 3)], rows.OrderBy(r => r.Item1).ToArray());
    }

    [Fact]
    public async Task Image_tools_uploads_files_by_path_selects_a_filter_per_image_and_captions_each()
    {
        await Publish("image-tools");
        var stdin = new StringBuilder()
            .Append("samples/image-tools/images/astronaut.jpg samples/image-tools/images/cameraman.jpg\n")
            .Append("4\n3\n")                                   // astronaut: invert, cameraman: edges
            .Append("An inverted astronaut\nEdges only\n")
            .ToString();
        var run = await server.CliWithInput(stdin, "run", "admin/image-tools", "--interactive");
        Assert.True(run.ExitCode == 0, run.ToString());
        // Prompts and outputs on stdout without --json.
        Assert.Contains("step 0, Upload images (File.Upload):", run.Stdout);
        Assert.Contains("astronaut.jpg: choice (1-5): ", run.Stdout);
        Assert.Contains("4. invert", run.Stdout);
        Assert.Contains("step 1 ", run.Stdout);
        Assert.Contains("astronaut-invert.png  image/png", run.Stdout);
        Assert.Contains("cameraman-edges.png  image/png", run.Stdout);
        Assert.Contains("An inverted astronaut", run.Stdout);
        Assert.Contains("astronaut-invert-captioned.png", run.Stdout);
        Assert.Matches(@"step 2 \S+: succeeded", run.Stdout);
    }

    [Fact]
    public async Task A_missing_file_is_asked_again_and_the_end_of_input_stops_the_run_with_a_clear_error()
    {
        await Publish("image-tools");
        var run = await server.CliWithInput("no/such/picture.png\n", "run", "admin/image-tools", "--interactive");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no/such/picture.png does not exist; try again", run.Stderr);
        Assert.Contains("the input ended before \"images\" was answered", run.Stderr);
    }

    [Fact]
    public async Task Redirected_input_without_inputs_or_interactive_is_refused()
    {
        await Publish("text-tools");
        var run = await server.CliWithInput("\n", "run", "admin/text-tools");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--inputs is required when standard input is not a terminal", run.Stderr);
        Assert.Contains("--interactive", run.Stderr);
    }

    private async Task Publish(string sample)
    {
        var publish = await server.Cli("publish", $"samples/{sample}", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());
    }
}

using System.Text.Json.Nodes;
using Feather.Cli.Runs;

namespace Feather.Cli.Tests;

/// <summary>
/// <c>feather run --interactive</c> asks within the rules of the response schema the SDK emits
/// with each input (tests/python/snapshots/response-schemas.json holds the SDK's own payloads).
/// </summary>
public class InteractivePrompterTests
{
    private static readonly JsonObject Fixture = JsonNode.Parse(File.ReadAllText(
        Path.Combine(RepoRoot(), "tests", "python", "snapshots", "response-schemas.json")))!.AsObject();

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Feather.sln")))
                return dir.FullName;
        throw new FileNotFoundException("Feather.sln not found above the test output folder");
    }

    /// <summary>Step 1 asks for the fixture's component <paramref name="key"/>, offered by step 0 as "x".</summary>
    private static (JsonNode Response, string Prompt, string Errors) Ask(string key, string lines, string? component = null)
    {
        var output = Fixture[key]!.DeepClone().AsObject();
        if (component is not null) output["component"] = component;
        var step = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "x", ["component"] = output["component"]!.GetValue<string>(), ["interactive"] = true,
                ["props"] = new JsonObject(), ["schema"] = new JsonObject { ["value"] = null, ["response"] = new JsonObject { ["type"] = "object" } },
            }),
        };
        var prompt = new StringWriter();
        var errors = new StringWriter();
        var responses = new InteractivePrompter(new StringReader(lines), prompt, errors).Ask(1, step, new JsonArray(output));
        return (responses["x"]!, prompt.ToString(), errors.ToString());
    }

    [Fact]
    public void Selections_follow_the_schemas_min_and_max()
    {
        var (response, prompt, errors) = Ask("select_multi_min", "1\n1 2 3 4\n4 2\n");
        Assert.Contains("pick 2 to 3", prompt);
        Assert.Contains("choose at least 2; try again", errors);
        Assert.Contains("at most 3 may be chosen, not 4; try again", errors);
        Assert.Equal("[3,1]", response["selected"]!.ToJsonString());

        var none = Ask("select_multi_any", "\n");
        Assert.Equal("[0]", none.Response["selected"]!.ToJsonString()); // empty keeps the preselected item
    }

    [Fact]
    public void Texts_follow_the_schemas_count_and_max_chars()
    {
        var (response, prompt, errors) = Ask("text", "toolong\nabc\nde\n");
        Assert.Contains("text 1 of 2", prompt);
        Assert.Contains("at most 5 characters, not 7; try again", errors);
        Assert.Equal("""["abc","de"]""", response["texts"]!.ToJsonString());
    }

    [Fact]
    public void Files_follow_the_schemas_types()
    {
        var dir = Directory.CreateTempSubdirectory("feather-prompter-");
        try
        {
            var text = Path.Combine(dir.FullName, "notes.txt");
            var image = Path.Combine(dir.FullName, "a.PNG");
            File.WriteAllText(text, "hi");
            File.WriteAllBytes(image, [0x89, 0x50]);
            var (response, prompt, errors) = Ask("upload", $"{text}\n{image}\n");
            Assert.Contains(".png .jpg", prompt);
            Assert.Contains("type .txt not accepted (accepted: .png .jpg)", errors);
            Assert.Equal("a.PNG", response["files"]![0]!["name"]!.GetValue<string>());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_component_without_a_question_is_answered_as_json_with_the_schemas_example()
    {
        var (response, prompt, errors) = Ask("select_one", "not json\n{\"selected\": 1}\n", component: "List.Future");
        Assert.Contains("response as JSON, e.g. {\"selected\":0}", prompt);
        Assert.Contains("not JSON", errors);
        Assert.Equal(1, response["selected"]!.GetValue<int>());
    }
}

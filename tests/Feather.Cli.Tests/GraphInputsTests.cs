using Feather.Cli.Runs;

namespace Feather.Cli.Tests;

/// <summary>The CLI's side of runs with branches and loops: the inputs file's path form, and the choice of the next step.</summary>
public class GraphInputsTests
{
    [Fact]
    public void An_inputs_path_names_the_step_at_each_position()
    {
        var entries = InputsFile.ParseEntries("""
            {"path": [{"step": "start", "responses": {"upload": {"files": []}}},
                      {"step": "refine", "responses": {"current": {"selected": [4]}}},
                      {"step": "save"}]}
            """, "in.json");
        Assert.Equal(["start", "refine", "save"], entries.Select(e => e.Step));
        Assert.Equal(4, (int?)entries[1].Responses["current"]!["selected"]![0]);
        Assert.Empty(entries[2].Responses);
        // the steps form has no names: the model's choice at each point
        Assert.All(InputsFile.ParseEntries("""{"steps": [{}, {}]}""", "in.json"), e => Assert.Null(e.Step));
    }

    [Theory]
    [InlineData("""{"path": {}}""", "\"path\" must be a list")]
    [InlineData("""{"path": [{"responses": {}}]}""", "path[0] must be an object with the step's name")]
    [InlineData("""{"path": [{"step": "a", "responses": []}]}""", "path[0].responses must be an object")]
    [InlineData("""{"path": [], "steps": []}""", "give \"steps\" or \"path\", not both")]
    [InlineData("""{"route": []}""", "unknown top-level key(s) \"route\"")]
    public void A_bad_path_says_what_is_wrong(string text, string why)
    {
        var e = Assert.Throws<CliException>(() => InputsFile.ParseEntries(text, "in.json"));
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData("\n", false, "refine")]
    [InlineData("2\n", false, "save")]
    [InlineData("9\n3\n", true, null)]
    public void The_prompter_offers_the_next_steps_with_the_models_choice_first(string lines, bool ends, string? chosen)
    {
        var prompt = new StringWriter();
        var errors = new StringWriter();
        var next = new InteractivePrompter(new StringReader(lines), prompt, errors).ChooseNext(2, ["refine", "save"], ends);
        Assert.Equal(chosen, next);
        Assert.Contains("1. refine (the model's choice)", prompt.ToString());
        Assert.Equal(ends, prompt.ToString().Contains("3. end the run here"));
        if (lines.StartsWith('9')) Assert.Contains("'9' is not a number from 1 to 3", errors.ToString());
    }
}

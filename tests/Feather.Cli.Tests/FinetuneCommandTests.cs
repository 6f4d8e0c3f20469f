using System.Text.Json;
using Feather.Cli.Commands;
using Feather.Contracts;

namespace Feather.Cli.Tests;

/// <summary>
/// <c>feather finetune --param NAME=VALUE</c>: the values are typed by the training function's declaration in the
/// version's metadata, so "3" is an int for an integer param and a str for a string one; mistakes are usage errors;
/// the versions table shows a fine-tuned version's lineage.
/// </summary>
public class FinetuneCommandTests
{
    private static readonly JsonElement Metadata = JsonDocument.Parse("""
        {"train": {"function": "train", "params": {
          "epochs": {"type": "integer", "default": 5}, "lr": {"type": "number", "default": 0.5},
          "tag": {"type": "string", "default": "x"}, "shuffle": {"type": "boolean", "default": false}}}}
        """).RootElement;

    [Fact]
    public void Values_are_typed_by_the_declaration()
    {
        var parsed = FinetuneCommand.ParseParams(["epochs=3", "lr=0.25", "tag=3", "shuffle=yes"], Metadata);
        Assert.Equal("""{"epochs":3,"lr":0.25,"tag":"3","shuffle":true}""", JsonSerializer.Serialize(parsed));
        Assert.Equal("a=b=c", FinetuneCommand.ParseParams(["tag=a=b=c"], Metadata)["tag"].GetString());
    }

    [Theory]
    [InlineData("epochs=three", ExitCodes.Usage, "--param epochs: 'three' is not an integer")]
    [InlineData("lr=NaN", ExitCodes.Usage, "--param lr: 'NaN' is not a number")]
    [InlineData("shuffle=maybe", ExitCodes.Usage, "--param shuffle: 'maybe' is not a boolean")]
    [InlineData("momentum=1", ExitCodes.Usage, "unknown param 'momentum'")]
    [InlineData("epochs", ExitCodes.Usage, "--param 'epochs' is not NAME=VALUE")]
    public void Mistakes_are_usage_errors(string pair, ExitCodes code, string message)
    {
        var e = Assert.Throws<CliException>(() => FinetuneCommand.ParseParams([pair], Metadata));
        Assert.Equal(code, e.Code);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_model_without_a_training_function_is_refused()
    {
        var e = Assert.Throws<CliException>(() => FinetuneCommand.ParseParams(["epochs=1"], JsonDocument.Parse("{}").RootElement));
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
    }

    [Fact]
    public void The_versions_table_shows_the_lineage_of_a_fine_tuned_version()
    {
        var lineage = new VersionLineage("ft-1", "admin/image-classifier", 1, "admin/digits-train", 1,
            JsonDocument.Parse("""{"epochs":3,"lr":1}""").RootElement, new() { ["loss"] = 0.1 }, "ada");
        var writer = new StringWriter();
        VersionsListCommand.WriteTable(writer, [
            new VersionSummary(1, DateTime.UtcNow, "admin", null, "ready", true, []),
            new VersionSummary(2, DateTime.UtcNow, "ada", "fine-tuned", "ready", false, [], Lineage: lineage),
        ], 1);
        var text = writer.ToString();
        Assert.Contains("FINE-TUNED FROM", text);
        Assert.Contains("admin/image-classifier@1 on admin/digits-train@1 (epochs=3, lr=1)", text);
    }
}

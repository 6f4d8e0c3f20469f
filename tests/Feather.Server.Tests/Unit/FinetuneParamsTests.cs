using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Finetunes;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// The server's check of a fine-tune request's hyperparameters against the training function's declaration (metadata
/// <c>train.params</c>, each a JSON Schema of its value with a default), with JsonSchema.Net: defaults filled in, in
/// the declared order; unknown names, wrong types, values out of bounds and outside the choices refused by name.
/// </summary>
public class FinetuneParamsTests
{
    private static readonly JsonObject Train = JsonNode.Parse("""
        {"function": "train", "params": {
          "epochs": {"type": "integer", "default": 5, "minimum": 1, "maximum": 50, "description": "passes"},
          "lr": {"type": "number", "default": 0.5, "minimum": 0.0001, "maximum": 10.0},
          "mode": {"type": "string", "default": "ok", "enum": ["ok", "raise"]},
          "shuffle": {"type": "boolean", "default": false}}}
        """)!.AsObject();

    private static Dictionary<string, JsonElement> Given(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    [Fact]
    public void Defaults_fill_in_what_is_not_given_in_the_declared_order_and_a_whole_number_is_a_float_for_a_float_param()
    {
        var (resolved, errors) = FinetuneService.ResolveParams(Train, Given("""{"shuffle": true, "lr": 2}"""));
        Assert.Empty(errors);
        Assert.Equal("""{"epochs":5,"lr":2,"mode":"ok","shuffle":true}""", resolved!.ToJsonString());
        Assert.Equal(JsonValueKind.Number, JsonDocument.Parse(resolved.ToJsonString()).RootElement.GetProperty("lr").ValueKind);
        Assert.Equal(2.0, resolved["lr"]!.GetValue<double>());
        var (none, noErrors) = FinetuneService.ResolveParams(Train, null);
        Assert.Empty(noErrors);
        Assert.Equal(5, none!["epochs"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"epochs": 51}""", "params/epochs")]
    [InlineData("""{"epochs": 0}""", "params/epochs")]
    [InlineData("""{"epochs": 2.5}""", "params/epochs")]
    [InlineData("""{"epochs": "3"}""", "params/epochs")]
    [InlineData("""{"lr": 0}""", "params/lr")]
    [InlineData("""{"mode": "other"}""", "params/mode")]
    [InlineData("""{"shuffle": 1}""", "params/shuffle")]
    [InlineData("""{"momentum": 0.9}""", "params/momentum")]
    public void A_value_outside_its_declaration_is_refused_by_name(string given, string key)
    {
        var (resolved, errors) = FinetuneService.ResolveParams(Train, Given(given));
        Assert.Null(resolved);
        Assert.Equal([key], errors.Keys);
        Assert.NotEmpty(errors[key][0]);
    }

    [Fact]
    public void An_unknown_param_names_the_declared_ones()
    {
        var (_, errors) = FinetuneService.ResolveParams(Train, Given("""{"momentum": 0.9}"""));
        Assert.Equal("unknown param; the training function declares epochs, lr, mode, shuffle", errors["params/momentum"].Single());
    }
}

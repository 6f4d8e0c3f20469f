using System.Text.Json;
using System.Text.Json.Nodes;

namespace Feather.Cli.Api;

/// <summary>The free-form JSON parts of the contract's records (outputs, errors, metadata) as nodes to walk.</summary>
public static class ContractValues
{
    public static JsonNode? AsNode(this JsonElement? element) => element is { } value ? value.AsNode() : null;

    public static JsonNode? AsNode(this JsonElement element) =>
        element.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? null : JsonNode.Parse(element.GetRawText());
}

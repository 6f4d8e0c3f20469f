using System.Text.Json.Nodes;

namespace Feather.Cli.Output;

public static class JsonOutput
{
    public static void Write(TextWriter writer, JsonNode? node) =>
        writer.WriteLine(node is null ? "null" : node.ToJsonString(Json.Indented));

    public static void Write<T>(TextWriter writer, T value) =>
        writer.WriteLine(System.Text.Json.JsonSerializer.Serialize(value, Json.Indented));
}

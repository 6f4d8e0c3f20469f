using System.Text.Json.Nodes;

namespace Feather.Cli;

/// <summary>An error the user can act on: a message, what to do next, and the exit code.</summary>
public sealed class CliException(ExitCodes code, string message, string? hint = null, Exception? inner = null)
    : Exception(message, inner)
{
    public ExitCodes Code { get; } = code;
    public string? Hint { get; } = hint;
    /// <summary>The server's problem details, when the error came from one.</summary>
    public JsonNode? Problem { get; init; }
}

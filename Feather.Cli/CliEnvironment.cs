namespace Feather.Cli;

/// <summary>What a command may touch outside itself: standard streams and environment variables.
/// Tests pass their own; the program passes the real console.</summary>
public sealed class CliEnvironment
{
    public required TextWriter Out { get; init; }
    public required TextWriter Err { get; init; }
    public required TextReader In { get; init; }
    public bool ErrIsTerminal { get; init; }
    public bool InIsTerminal { get; init; }
    public required Func<string, string?> GetVariable { get; init; }

    public static CliEnvironment FromConsole() => new()
    {
        Out = Console.Out,
        Err = Console.Error,
        In = Console.In,
        ErrIsTerminal = !Console.IsErrorRedirected,
        InIsTerminal = !Console.IsInputRedirected,
        GetVariable = Environment.GetEnvironmentVariable,
    };

    public string? Variable(string name)
    {
        var value = GetVariable(name);
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }
}

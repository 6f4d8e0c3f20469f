using System.CommandLine;

namespace Feather.Cli.Commands;

public static class GlobalOptions
{
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout instead of tables (errors too, as {\"error\":...})",
        Recursive = true,
    };
}

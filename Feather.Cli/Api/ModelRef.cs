using System.Text.RegularExpressions;

namespace Feather.Cli.Api;

/// <summary><c>OWNER/MODEL[@VERSION|@TAG]</c>, as typed on the command line.</summary>
public sealed partial record ModelRef(string Owner, string Model, string? Version)
{
    [GeneratedRegex("^(?<owner>[A-Za-z0-9][A-Za-z0-9._-]{0,62})/(?<model>[a-z0-9][a-z0-9-]{0,62})(@(?<version>[A-Za-z0-9][A-Za-z0-9._-]{0,62}))?$")]
    private static partial Regex Pattern();

    public static ModelRef Parse(string text, bool allowVersion = true)
    {
        var match = Pattern().Match(text ?? "");
        if (!match.Success || (!allowVersion && match.Groups["version"].Success))
            throw new CliException(ExitCodes.Usage, $"'{text}' is not a model reference",
                allowVersion ? "write OWNER/MODEL, OWNER/MODEL@3 (a version) or OWNER/MODEL@stable (a tag)" : "write OWNER/MODEL");
        return new ModelRef(match.Groups["owner"].Value, match.Groups["model"].Value,
            match.Groups["version"].Success ? match.Groups["version"].Value : null);
    }

    public string ApiPath => Feather.Contracts.Routes.Expand(Feather.Contracts.Routes.Model, Owner, Model);

    public override string ToString() => Version is null ? $"{Owner}/{Model}" : $"{Owner}/{Model}@{Version}";
}

using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Feather.Cli.Output;
using Feather.Contracts;

namespace Feather.Cli.Commands;

/// <summary>
/// <c>feather leaderboard TASK [--dataset OWNER/NAME[@N]] [--all-versions]</c> (<c>GET /api/leaderboards/{task}</c>): the
/// models ranked by the task's primary metric on one dataset version, as a table, or the board as JSON with <c>--json</c>.
/// </summary>
public static partial class LeaderboardCommand
{
    public static readonly Argument<string> Task = new("TASK") { Description = "The task, e.g. image-classification" };
    public static readonly Option<string?> Dataset = new("--dataset")
    {
        Description = "OWNER/NAME of the dataset, or OWNER/NAME@N for its version N (default: the task's board with the most models, its newest version)",
    };
    public static readonly Option<bool> AllVersions = new("--all-versions") { Description = "Rank every evaluated version of each model, not only its live one" };

    [GeneratedRegex("^(?<owner>[A-Za-z0-9][A-Za-z0-9._-]{0,62})/(?<name>[a-z0-9][a-z0-9-]{0,62})(@(?<version>[0-9]{1,9}))?$")]
    private static partial Regex Reference();

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("leaderboard", "Rank the models of a task on a dataset by the task's metrics") { Task, Dataset, AllVersions };
        CommandContext.Bind(command, env, async (context, parse, ct) =>
        {
            string? dataset = null, version = null;
            if (parse.GetValue(Dataset) is { } given)
            {
                var match = Reference().Match(given);
                if (!match.Success) throw new CliException(ExitCodes.Usage, $"'{given}' is not a dataset reference", "write OWNER/NAME or OWNER/NAME@2");
                dataset = $"{match.Groups["owner"].Value}/{match.Groups["name"].Value}";
                if (match.Groups["version"].Success) version = match.Groups["version"].Value;
            }
            var answer = await context.Api.SendAsync<Leaderboard>(HttpMethod.Get, Routes.WithQuery(
                Routes.Expand(Routes.Leaderboard, parse.GetValue(Task)!.Trim()),
                ("dataset", dataset), ("datasetVersion", version), ("versions", parse.GetValue(AllVersions) ? "all" : null)), null, ct);
            if (context.Json) { JsonOutput.Write(context.Out, answer.Body); return ExitCodes.Ok; }
            Write(context.Out, answer.Value);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The board as people read it: a heading, one row per entry, the other boards of the task.</summary>
    public static void Write(TextWriter o, Leaderboard board)
    {
        var primary = board.Metrics.FirstOrDefault(m => m.Primary);
        o.WriteLine($"{board.Task} on {board.DatasetOwner}/{board.Dataset} version {board.DatasetVersion}" +
                    (board.DatasetTitle is { Length: > 0 } title ? $" ({TerminalText.Safe(title)})" : ""));
        if (primary is not null)
            o.WriteLine($"  ranked by {primary.Name} ({(primary.HigherIsBetter ? "higher" : "lower")} is better), " +
                        (board.Versions == "all" ? "every evaluated version" : "each model's live version"));
        o.WriteLine();
        if (board.Entries.Length == 0)
            o.WriteLine(board.Versions == "all" ? "no evaluated versions" : "no live version has been evaluated; try --all-versions");
        else
            Table.Write(o, ["RANK", "MODEL", "VERSION", .. board.Metrics.Select(m => m.Name.ToUpperInvariant()), "EVALUATED"],
                board.Entries.Select(e => (IReadOnlyList<string>)
                [
                    e.Rank.ToString(CultureInfo.InvariantCulture), $"{e.Owner}/{e.Model}",
                    e.Version.ToString(CultureInfo.InvariantCulture) + (e.Live ? " (live)" : ""),
                    .. board.Metrics.Select(m => e.Metrics.TryGetValue(m.Name, out var v) ? Number(v) : "-"),
                    Format.Time(e.EvaluatedAt),
                ]));
        var others = board.Boards.Where(b => !(b.DatasetOwner == board.DatasetOwner && b.Dataset == board.Dataset && b.DatasetVersion == board.DatasetVersion)).ToArray();
        if (others.Length == 0) return;
        o.WriteLine();
        o.WriteLine("other boards of this task (--dataset OWNER/NAME@N):");
        foreach (var b in others) o.WriteLine($"  {b.DatasetOwner}/{b.Dataset}@{b.DatasetVersion}: {b.Models} model(s)");
    }

    /// <summary>Four decimals, the way metrics between 0 and 1 read best; larger values keep their size.</summary>
    public static string Number(double value) => value.ToString(Math.Abs(value) >= 1000 ? "0.#" : "0.0000", CultureInfo.InvariantCulture);
}

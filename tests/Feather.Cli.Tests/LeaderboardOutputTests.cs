using Feather.Cli.Commands;
using Feather.Contracts;

namespace Feather.Cli.Tests;

public class LeaderboardOutputTests
{
    private static readonly DateTime When = new(2026, 12, 3, 10, 30, 0, DateTimeKind.Utc);

    private static LeaderboardEntry Entry(int rank, string model, int version, bool live, double accuracy, double f1) =>
        new(rank, "admin", model, version, live, accuracy, new Dictionary<string, double> { ["accuracy"] = accuracy, ["macro_f1"] = f1 },
            $"ev-{model}", When, $"/models/admin/{model}");

    [Fact]
    public void The_board_prints_ranks_models_every_metric_and_the_other_boards()
    {
        var board = new Leaderboard("image-classification", "admin", "digits-heldout", 1, "Digits, held-out split", "live",
            [new LeaderboardMetric("accuracy", "Accuracy", true, true), new LeaderboardMetric("macro_f1", "Macro-F1", true, false)],
            [Entry(1, "image-classifier", 1, true, 0.9689, 0.96884), Entry(2, "digits-centroid", 2, true, 0.9067, 0.9051)],
            [new LeaderboardSummary("image-classification", "admin", "digits-heldout", 1, null, "accuracy", true, 2, null, When),
             new LeaderboardSummary("image-classification", "lab", "mnist-small", 3, null, "accuracy", true, 5, null, When)]);
        var o = new StringWriter();
        LeaderboardCommand.Write(o, board);
        var lines = o.ToString().Split('\n').Select(l => l.TrimEnd()).ToArray();

        Assert.Equal("image-classification on admin/digits-heldout version 1 (Digits, held-out split)", lines[0]);
        Assert.Equal("  ranked by accuracy (higher is better), each model's live version", lines[1]);
        var header = Array.FindIndex(lines, l => l.StartsWith("RANK"));
        Assert.Matches(@"^RANK\s+MODEL\s+VERSION\s+ACCURACY\s+MACRO_F1\s+EVALUATED$", lines[header]);
        Assert.Matches(@"^1\s+admin/image-classifier\s+1 \(live\)\s+0\.9689\s+0\.9688\s+2026-12-03 10:30Z$", lines[header + 1]);
        Assert.Matches(@"^2\s+admin/digits-centroid\s+2 \(live\)\s+0\.9067\s+0\.9051\s+", lines[header + 2]);
        Assert.Contains("  lab/mnist-small@3: 5 model(s)", lines);
        Assert.DoesNotContain(lines, l => l.Contains("admin/digits-heldout@1"));
    }

    [Fact]
    public void An_empty_live_board_suggests_all_versions()
    {
        var board = new Leaderboard("regression", "lab", "houses", 2, null, "live",
            [new LeaderboardMetric("mae", "MAE", false, true)], [], []);
        var o = new StringWriter();
        LeaderboardCommand.Write(o, board);
        Assert.Contains("ranked by mae (lower is better)", o.ToString());
        Assert.Contains("no live version has been evaluated; try --all-versions", o.ToString());
    }

    [Theory]
    [InlineData("leaderboard")]                                                    // TASK is required
    [InlineData("leaderboard", "image-classification", "--versions", "all")]      // the option is --all-versions
    public async Task Bad_leaderboard_command_lines_are_usage_errors(params string[] args)
    {
        var result = await InProcess.RunAsync(args, new Dictionary<string, string> { ["HOME"] = "/nonexistent-home", ["FEATHER_URL"] = "http://127.0.0.1:9" });
        Assert.Equal((int)ExitCodes.Usage, result.ExitCode);
    }

    [Fact]
    public async Task A_malformed_dataset_reference_is_a_usage_error_before_any_request()
    {
        var result = await InProcess.RunAsync(["leaderboard", "image-classification", "--dataset", "digits"],
            new Dictionary<string, string> { ["HOME"] = "/nonexistent-home", ["FEATHER_URL"] = "http://127.0.0.1:9" });
        Assert.Equal((int)ExitCodes.Usage, result.ExitCode);
        Assert.Contains("'digits' is not a dataset reference", result.Err);
    }
}

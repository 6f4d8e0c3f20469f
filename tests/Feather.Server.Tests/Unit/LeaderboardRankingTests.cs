using Feather.Server.Leaderboards;

namespace Feather.Server.Tests.Unit;

public sealed class LeaderboardRankingTests
{
    private static readonly TaskRanking Classification = new("image-classification",
        [new MetricRule("accuracy", HigherIsBetter: true), new MetricRule("macro_f1", HigherIsBetter: true)]);
    private static readonly TaskRanking Regression = new("regression",
        [new MetricRule("mae", HigherIsBetter: false), new MetricRule("rmse", HigherIsBetter: false), new MetricRule("r2", HigherIsBetter: true)]);
    private static readonly DateTime T0 = new(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);

    private static Score S(string model, int version, bool live, Dictionary<string, double> metrics, int minutes = 0, string? id = null) =>
        new(id ?? $"{model}-{version}-{minutes}", model, "lab", model, version, live, "ds", 1, "t", metrics, T0.AddMinutes(minutes));

    [Fact]
    public void Live_versions_are_ranked_by_the_primary_metric_higher_first_and_equal_scores_share_a_rank()
    {
        var ranked = Ranking.Rank([
            S("a", 1, true, new() { ["accuracy"] = 0.90, ["macro_f1"] = 0.95 }),
            S("b", 2, true, new() { ["accuracy"] = 0.97, ["macro_f1"] = 0.96 }),
            S("b", 1, false, new() { ["accuracy"] = 0.99 }),                      // not live: only on the all-versions board
            S("c", 1, true, new() { ["accuracy"] = 0.90, ["macro_f1"] = 0.80 }, minutes: 5),
            S("d", 1, true, new() { ["accuracy"] = 0.50 }),
        ], Classification, allVersions: false);

        Assert.Equal(["b", "a", "c", "d"], ranked.Select(r => r.Score.Model).ToArray());
        Assert.Equal([1, 2, 2, 4], ranked.Select(r => r.Rank).ToArray());    // a and c tie; a was evaluated first
        Assert.Equal([0.97, 0.90, 0.90, 0.50], ranked.Select(r => r.Value).ToArray());
    }

    [Fact]
    public void All_versions_ranks_every_version_with_its_latest_evaluation()
    {
        var ranked = Ranking.Rank([
            S("a", 1, false, new() { ["accuracy"] = 0.80 }, minutes: 0),
            S("a", 1, false, new() { ["accuracy"] = 0.85 }, minutes: 10),      // re-evaluated: this one counts
            S("a", 2, true, new() { ["accuracy"] = 0.95 }),
            S("b", 1, true, new() { ["accuracy"] = 0.90 }),
        ], Classification, allVersions: true);

        Assert.Equal([("a", 2, 0.95), ("b", 1, 0.90), ("a", 1, 0.85)], ranked.Select(r => (r.Score.Model, r.Score.Version, r.Value)).ToArray());
        Assert.Equal([1, 2, 3], ranked.Select(r => r.Rank).ToArray());
    }

    [Fact]
    public void Lower_is_better_metrics_rank_the_smallest_first()
    {
        var ranked = Ranking.Rank([
            S("far", 1, true, new() { ["mae"] = 3.5, ["r2"] = 0.1 }),
            S("near", 1, true, new() { ["mae"] = 0.4, ["r2"] = 0.9 }),
            S("mid", 1, true, new() { ["mae"] = 1.0 }),
        ], Regression, allVersions: false);
        Assert.Equal(["near", "mid", "far"], ranked.Select(r => r.Score.Model).ToArray());
    }

    [Fact]
    public void A_score_without_a_finite_primary_metric_is_left_off_and_shown_metrics_follow_the_task()
    {
        var ranked = Ranking.Rank([
            S("nan", 1, true, new() { ["accuracy"] = double.NaN }),
            S("none", 1, true, new() { ["macro_f1"] = 0.7 }),
            S("ok", 1, true, new() { ["macro_f1"] = 0.6, ["accuracy"] = 0.7, ["secret"] = 1 }),
        ], Classification, allVersions: false);
        var only = Assert.Single(ranked);
        Assert.Equal("ok", only.Score.Model);
        Assert.Equal(["accuracy", "macro_f1"], Ranking.Shown(only.Score, Classification).Keys.ToArray());
    }
}

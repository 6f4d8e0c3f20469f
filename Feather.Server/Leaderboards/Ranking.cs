namespace Feather.Server.Leaderboards;

/// <summary>A metric as a task defines it: its name, which way is better, and its display name.</summary>
public sealed record MetricRule(string Name, bool HigherIsBetter, string? Title = null);

/// <summary>How a task ranks: its primary metric first, then the other scalar metrics the board shows.</summary>
public sealed record TaskRanking(string Task, IReadOnlyList<MetricRule> Metrics)
{
    public MetricRule Primary => Metrics[0];
}

/// <summary>
/// One finished evaluation as a board sees it: which model version was scored on which dataset version, its scalar
/// metrics, and when. <see cref="Live"/> says whether that version is the model's live version now.
/// </summary>
public sealed record Score(string EvaluationId, string ModelId, string Owner, string Model, int Version, bool Live,
    string DatasetId, int DatasetVersion, string Task, IReadOnlyDictionary<string, double> Metrics, DateTime EvaluatedAt);

/// <summary>A score with its rank on a board.</summary>
public sealed record Ranked(int Rank, Score Score, double Value);

/// <summary>
/// The ranking of a board, a pure function: which scores take part (the latest evaluation of each model version;
/// each model's live version, or every version) and their order by the primary metric. Equal scores share a rank
/// ("1, 2, 2, 4"); among them the earlier evaluation is listed first. A score without the primary metric (or with a
/// value that is not a number) is left off: it cannot be compared.
/// </summary>
public static class Ranking
{
    public static IReadOnlyList<Ranked> Rank(IEnumerable<Score> scores, TaskRanking task, bool allVersions)
    {
        var primary = task.Primary;
        var latest = scores
            .Where(s => s.Metrics.TryGetValue(primary.Name, out var v) && double.IsFinite(v))
            .GroupBy(s => (s.ModelId, s.Version))
            .Select(g => g.OrderByDescending(s => s.EvaluatedAt).ThenBy(s => s.EvaluationId, StringComparer.Ordinal).First())
            .Where(s => allVersions || s.Live);
        var ordered = latest
            .Select(s => (Score: s, Value: s.Metrics[primary.Name]))
            .OrderBy(x => primary.HigherIsBetter ? -x.Value : x.Value)
            .ThenBy(x => x.Score.EvaluatedAt)
            .ThenBy(x => x.Score.Owner, StringComparer.Ordinal).ThenBy(x => x.Score.Model, StringComparer.Ordinal)
            .ThenBy(x => x.Score.Version)
            .ToList();
        var ranked = new List<Ranked>(ordered.Count);
        for (var i = 0; i < ordered.Count; i++)
        {
            var rank = i > 0 && ordered[i].Value.Equals(ordered[i - 1].Value) ? ranked[i - 1].Rank : i + 1;
            ranked.Add(new Ranked(rank, ordered[i].Score, ordered[i].Value));
        }
        return ranked;
    }

    /// <summary>The metrics a board shows for a score: the task's scalar metrics that the score has, in the task's order.</summary>
    public static IReadOnlyDictionary<string, double> Shown(Score score, TaskRanking task)
    {
        var shown = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var rule in task.Metrics)
            if (score.Metrics.TryGetValue(rule.Name, out var value) && double.IsFinite(value)) shown[rule.Name] = value;
        return shown;
    }
}

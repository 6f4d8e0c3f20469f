using Feather.Server.Auth;
using Feather.Server.Datasets;
using Feather.Server.Models;

namespace Feather.Server.Leaderboards;

/// <summary>A finished, successful evaluation as the evaluations feature stores it: model version × dataset version → metrics.</summary>
public sealed record FinishedEvaluation(string EvaluationId, string ModelId, int Version, string DatasetId, int DatasetVersion,
    string Task, IReadOnlyDictionary<string, double> Metrics, DateTime FinishedAt);

/// <summary>Where boards get their scores and their tasks' metrics from (the evaluations feature).</summary>
public interface IScoreSource
{
    /// <summary>Every successful evaluation, any order.</summary>
    IEnumerable<FinishedEvaluation> Finished();

    /// <summary>How a task ranks (its primary metric first, then its other scalar metrics); null for an unknown task.</summary>
    TaskRanking? Task(string task);
}

public enum BoardStatus { Found, UnknownTask, NoDataset, NoBoard }

public readonly record struct BoardResult(BoardStatus Status, Leaderboard? Board, string? Detail = null);

/// <summary>
/// Leaderboards (docs/api.md#leaderboards): the boards a caller may see, one board, and a model's scores with its ranks.
/// Visibility follows the models and datasets: a board exists for a caller only on a dataset the caller can see (listed
/// ones in the list of boards), and holds only the models the catalogue lists for the caller, so a private model's score
/// and even its place are invisible to others; ranks are counted among what the caller sees.
/// </summary>
public sealed class LeaderboardService(IScoreSource source, ModelStore models, DatasetStore datasets)
{
    public const string LiveVersions = "live";
    public const string AllVersions = "all";

    /// <summary>The boards the caller can see: one per task and listed dataset version on which a model the caller sees was evaluated.</summary>
    public LeaderboardSummary[] Boards(Caller caller, string? task = null)
    {
        var visible = VisibleScores(caller, dataset: null, extraModelId: null)
            .Where(s => task is null || string.Equals(s.Score.Task, task, StringComparison.OrdinalIgnoreCase));
        return Summaries(visible.Where(s => datasets.IsListed(s.Dataset, caller)))
            .OrderBy(b => b.Task, StringComparer.Ordinal).ThenBy(b => b.DatasetOwner, StringComparer.Ordinal)
            .ThenBy(b => b.Dataset, StringComparer.Ordinal).ThenByDescending(b => b.DatasetVersion)
            .ToArray();
    }

    /// <summary>
    /// One board. Without a dataset: the task's board with the most models the caller sees (ties: the most recent
    /// evaluation), held-out data before a training split. Without a dataset version: the newest version of that dataset that has a board.
    /// </summary>
    public BoardResult Board(string task, string? dataset, int? datasetVersion, bool allVersions, Caller caller)
    {
        var ranking = source.Task(task);
        if (ranking is null) return new(BoardStatus.UnknownTask, null, $"no task '{task}'");
        DatasetRecord? chosen = null;
        if (!string.IsNullOrWhiteSpace(dataset))
        {
            var parts = dataset.Split('/');
            chosen = parts.Length == 2 ? datasets.Find(parts[0], parts[1]) : null;
            if (chosen is null || !datasets.CanRead(chosen, caller)) return new(BoardStatus.NoDataset, null, $"no dataset {dataset}");
        }
        var scores = VisibleScores(caller, chosen, extraModelId: null)
            .Where(s => string.Equals(s.Score.Task, ranking.Task, StringComparison.OrdinalIgnoreCase))
            .Where(s => chosen is not null || datasets.IsListed(s.Dataset, caller))
            .ToList();
        var boards = Summaries(scores).ToArray();
        // a training split is a task's default board only when it is the only one (it is never evaluated automatically)
        var training = scores.Where(s => s.Dataset.IsTraining).Select(s => (s.Dataset.Owner, s.Dataset.Name)).ToHashSet();
        if (boards.Length == 0)
            return new(BoardStatus.NoBoard, null, chosen is null
                ? $"no model has been evaluated for the task '{ranking.Task}' on a dataset you can see"
                : $"no model has been evaluated on {chosen.Owner}/{chosen.Name} for the task '{ranking.Task}'");
        var pick = chosen is null
            ? boards.OrderBy(b => training.Contains((b.DatasetOwner, b.Dataset))).ThenByDescending(b => b.Models).ThenByDescending(b => b.UpdatedAt).ThenBy(b => b.DatasetOwner, StringComparer.Ordinal)
                .ThenBy(b => b.Dataset, StringComparer.Ordinal).First()
            : boards.Where(b => datasetVersion is null || b.DatasetVersion == datasetVersion).MaxBy(b => b.DatasetVersion);
        if (pick is null)
            return new(BoardStatus.NoBoard, null, $"no model has been evaluated on version {datasetVersion} of {chosen!.Owner}/{chosen.Name}");
        if (chosen is null && datasetVersion is not null)
        {
            pick = boards.FirstOrDefault(b => b.DatasetOwner == pick.DatasetOwner && b.Dataset == pick.Dataset && b.DatasetVersion == datasetVersion);
            if (pick is null) return new(BoardStatus.NoBoard, null, $"no board of '{ranking.Task}' on a dataset version {datasetVersion}");
        }
        var onBoard = scores.Where(s => s.Dataset.Owner == pick.DatasetOwner && s.Dataset.Name == pick.Dataset && s.Score.DatasetVersion == pick.DatasetVersion);
        var entries = Ranking.Rank(onBoard.Select(s => s.Score), ranking, allVersions).Select(r => Entry(r, ranking)).ToArray();
        var metrics = ranking.Metrics.Select((m, i) => new LeaderboardMetric(m.Name, m.Title ?? m.Name, m.HigherIsBetter, i == 0)).ToArray();
        return new(BoardStatus.Found, new Leaderboard(ranking.Task, pick.DatasetOwner, pick.Dataset, pick.DatasetVersion, pick.DatasetTitle,
            allVersions ? AllVersions : LiveVersions, metrics, entries, boards.OrderBy(b => b.DatasetOwner, StringComparer.Ordinal)
                .ThenBy(b => b.Dataset, StringComparer.Ordinal).ThenByDescending(b => b.DatasetVersion).ToArray()));
    }

    /// <summary>
    /// A model's scores on every dataset version the caller can see, newest model version first, each with its rank: a live
    /// version among the live versions on that board, any other among every version.
    /// </summary>
    public ModelScore[]? ModelScores(string owner, string name, Caller caller)
    {
        var model = models.Find(owner, name);
        if (model is null || !models.CanRead(model, caller)) return null;
        var visible = VisibleScores(caller, dataset: null, extraModelId: model.Id).ToList();
        var result = new List<ModelScore>();
        foreach (var board in visible.Where(s => s.Score.ModelId == model.Id).GroupBy(s => (s.Dataset.Id, s.Score.DatasetVersion, s.Score.Task)))
        {
            var ranking = source.Task(board.Key.Task);
            if (ranking is null) continue;
            var dataset = board.First().Dataset;
            var all = visible.Where(s => s.Dataset.Id == board.Key.Id && s.Score.DatasetVersion == board.Key.DatasetVersion &&
                                         string.Equals(s.Score.Task, board.Key.Task, StringComparison.OrdinalIgnoreCase))
                .Select(s => s.Score).ToList();
            var live = Ranking.Rank(all, ranking, allVersions: false);
            var every = Ranking.Rank(all, ranking, allVersions: true);
            foreach (var mine in every.Where(r => r.Score.ModelId == model.Id))
            {
                var (rank, of) = mine.Score.Live ? (live.First(r => r.Score.ModelId == model.Id).Rank, live.Count) : (mine.Rank, every.Count);
                result.Add(new ModelScore(ranking.Task, dataset.Owner, dataset.Name, mine.Score.DatasetVersion, mine.Score.Version, mine.Score.Live,
                    ranking.Primary.Name, ranking.Primary.HigherIsBetter, mine.Value, Ranking.Shown(mine.Score, ranking), rank, of,
                    mine.Score.EvaluationId, mine.Score.EvaluatedAt));
            }
        }
        return result.OrderByDescending(s => s.Version).ThenBy(s => s.Task, StringComparer.Ordinal)
            .ThenBy(s => s.DatasetOwner, StringComparer.Ordinal).ThenBy(s => s.Dataset, StringComparer.Ordinal)
            .ThenByDescending(s => s.DatasetVersion).ToArray();
    }

    private sealed record Visible(Score Score, DatasetRecord Dataset);

    /// <summary>
    /// The scores the caller may see: on datasets the caller can read (only <paramref name="dataset"/> when given), of
    /// models the catalogue lists for the caller (and <paramref name="extraModelId"/>, a model the caller opened by name).
    /// </summary>
    private IEnumerable<Visible> VisibleScores(Caller caller, DatasetRecord? dataset, string? extraModelId)
    {
        var modelCache = new Dictionary<string, ModelRecord?>();
        var datasetCache = new Dictionary<string, DatasetRecord?>();
        Dictionary<string, DatasetRecord>? allDatasets = null;
        foreach (var e in source.Finished())
        {
            if (dataset is not null && e.DatasetId != dataset.Id) continue;
            if (!modelCache.TryGetValue(e.ModelId, out var model))
            {
                model = models.FindById(e.ModelId);
                if (model is not null && model.Id != extraModelId && !models.IsListed(model, caller)) model = null;
                modelCache[e.ModelId] = model;
            }
            if (model is null) continue;
            if (!datasetCache.TryGetValue(e.DatasetId, out var ds))
            {
                allDatasets ??= datasets.All().ToDictionary(d => d.Id);
                ds = allDatasets.GetValueOrDefault(e.DatasetId);
                if (ds is not null && !datasets.CanRead(ds, caller)) ds = null;
                datasetCache[e.DatasetId] = ds;
            }
            if (ds is null) continue;
            yield return new Visible(new Score(e.EvaluationId, model.Id, model.Owner, model.Name, e.Version, model.LiveVersion == e.Version,
                ds.Id, e.DatasetVersion, e.Task, e.Metrics, e.FinishedAt), ds);
        }
    }

    private IEnumerable<LeaderboardSummary> Summaries(IEnumerable<Visible> scores)
    {
        foreach (var group in scores.GroupBy(s => (Task: s.Score.Task.ToLowerInvariant(), s.Dataset.Id, s.Score.DatasetVersion)))
        {
            var ranking = source.Task(group.Key.Task);
            if (ranking is null) continue;
            var dataset = group.First().Dataset;
            var live = Ranking.Rank(group.Select(s => s.Score), ranking, allVersions: false);
            yield return new LeaderboardSummary(ranking.Task, dataset.Owner, dataset.Name, group.Key.DatasetVersion, dataset.Title,
                ranking.Primary.Name, ranking.Primary.HigherIsBetter, live.Count, live.Count > 0 ? Entry(live[0], ranking) : null,
                group.Max(s => s.Score.EvaluatedAt));
        }
    }

    private static LeaderboardEntry Entry(Ranked r, TaskRanking ranking) =>
        new(r.Rank, r.Score.Owner, r.Score.Model, r.Score.Version, r.Score.Live, r.Value, Ranking.Shown(r.Score, ranking),
            r.Score.EvaluationId, r.Score.EvaluatedAt, $"/models/{Uri.EscapeDataString(r.Score.Owner)}/{Uri.EscapeDataString(r.Score.Model)}");
}

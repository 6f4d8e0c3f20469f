using Feather.Server.Evaluations;

namespace Feather.Server.Leaderboards;

/// <summary>
/// The boards' scores: the latest succeeded evaluation of each model version on each dataset version
/// (<see cref="EvaluationStore.LatestSucceeded"/>), ranked by the task registry's primary metric
/// (<see cref="EvaluationTasks"/>), then the task's other metrics in the registry's order.
/// </summary>
public sealed class EvaluationScores(EvaluationStore evaluations) : IScoreSource
{
    public IEnumerable<FinishedEvaluation> Finished() =>
        evaluations.LatestSucceeded().Select(e => new FinishedEvaluation(e.Id, e.ModelId, e.ModelVersion, e.DatasetId, e.DatasetVersion,
            e.Task, e.Metrics, e.FinishedAt ?? e.CreatedAt));

    public TaskRanking? Task(string task)
    {
        var info = EvaluationTasks.Find(task.Trim().ToLowerInvariant());
        if (info is null) return null;
        var primary = info.Metrics.First(m => m.Name == info.PrimaryMetric);
        return new TaskRanking(info.Name, [new MetricRule(primary.Name, primary.HigherIsBetter, primary.Title),
            .. info.Metrics.Where(m => m != primary).Select(m => new MetricRule(m.Name, m.HigherIsBetter, m.Title))]);
    }
}

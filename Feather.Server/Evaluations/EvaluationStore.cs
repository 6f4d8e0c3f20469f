using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Datasets;
using Feather.Server.Models;
using Feather.Server.Storage;

namespace Feather.Server.Evaluations;

/// <summary>
/// Evaluations and their scored records in LiteDB, and who may see them: an evaluation is visible to a caller
/// who can read both its model and its dataset (others get 404). Every write of an evaluation goes through here.
/// </summary>
public sealed class EvaluationStore(FeatherDb db, ModelStore models, DatasetStore datasets)
{
    /// <summary>Scored records kept per evaluation (the metrics always cover every record).</summary>
    public const int MaxStoredRecords = 50_000;

    public EvaluationRecord? Find(string id) => db.Evaluations.FindById(id);

    public void Insert(EvaluationRecord evaluation) => db.Evaluations.Insert(evaluation);

    public void Save(EvaluationRecord evaluation) => db.Evaluations.Update(evaluation);

    /// <summary>Newest first.</summary>
    public IEnumerable<EvaluationRecord> ForModel(string modelId) =>
        db.Evaluations.Find(e => e.ModelId == modelId).OrderByDescending(e => e.CreatedAt);

    /// <summary>Newest first.</summary>
    public IEnumerable<EvaluationRecord> ForDataset(string datasetId) =>
        db.Evaluations.Find(e => e.DatasetId == datasetId).OrderByDescending(e => e.CreatedAt);

    /// <summary>Queued or running, oldest first (to resume or fail after a restart).</summary>
    public IEnumerable<EvaluationRecord> Unfinished() =>
        db.Evaluations.Find(e => e.Status == EvaluationStatus.Queued || e.Status == EvaluationStatus.Running).OrderBy(e => e.CreatedAt);

    /// <summary>An evaluation of this model version on this dataset version that is queued, running or succeeded (so a trigger does not score it twice).</summary>
    public EvaluationRecord? Existing(string modelId, int modelVersion, string datasetId, int datasetVersion) =>
        db.Evaluations.Find(e => e.ModelId == modelId && e.ModelVersion == modelVersion && e.DatasetId == datasetId
                                 && e.DatasetVersion == datasetVersion)
            .Where(e => e.Status is EvaluationStatus.Queued or EvaluationStatus.Running or EvaluationStatus.Succeeded)
            .OrderByDescending(e => e.CreatedAt).FirstOrDefault();

    /// <summary>
    /// For leaderboards: the latest succeeded evaluation of each (model version, dataset version), optionally only
    /// of one task and/or one dataset (by id) and/or one dataset version. Not filtered by visibility: pass each
    /// through <see cref="CanSee"/>.
    /// </summary>
    public IEnumerable<EvaluationRecord> LatestSucceeded(string? task = null, string? datasetId = null, int? datasetVersion = null)
    {
        var found = db.Evaluations.Find(e => e.Status == EvaluationStatus.Succeeded)
            .Where(e => task is null || e.Task == task)
            .Where(e => datasetId is null || e.DatasetId == datasetId)
            .Where(e => datasetVersion is null || e.DatasetVersion == datasetVersion);
        return found.GroupBy(e => (e.ModelId, e.ModelVersion, e.DatasetId, e.DatasetVersion))
            .Select(g => g.OrderByDescending(e => e.FinishedAt ?? e.CreatedAt).First());
    }

    /// <summary>True when the caller can read both the model and the dataset of the evaluation.</summary>
    public bool CanSee(EvaluationRecord evaluation, Caller caller)
    {
        var model = models.FindById(evaluation.ModelId);
        var dataset = db.Datasets.FindById(evaluation.DatasetId);
        return model is not null && dataset is not null && models.CanRead(model, caller) && datasets.CanRead(dataset, caller);
    }

    /// <summary>The per-record view is for whoever can change the model (its owner, team members, admins), and who can see the dataset.</summary>
    public bool CanSeeRecords(EvaluationRecord evaluation, Caller caller)
    {
        var model = models.FindById(evaluation.ModelId);
        return model is not null && CanSee(evaluation, caller) && models.CanWrite(model, caller);
    }

    public bool CanCancel(EvaluationRecord evaluation, Caller caller) => CanSeeRecords(evaluation, caller);

    public void SaveRecords(string evaluationId, List<ScoredRecord> records, bool truncated) =>
        db.EvaluationPredictions.Upsert(new EvaluationPredictionsRecord { Id = evaluationId, Records = records, Truncated = truncated });

    public EvaluationPredictionsRecord? Records(string evaluationId) => db.EvaluationPredictions.FindById(evaluationId);
}

using Feather.Server.Auth;
using Feather.Server.Models;
using Feather.Server.Storage;

namespace Feather.Server.Datasets;

public enum DatasetChangeStatus
{
    Changed,
    /// <summary>No such dataset, or the caller may not see it.</summary>
    NotFound,
    /// <summary>The caller sees the dataset but may not change it.</summary>
    Forbidden,
    UnknownVisibility,
}

public readonly record struct DatasetChange(DatasetChangeStatus Status, DatasetRecord? Dataset);

/// <summary>
/// Datasets and their versions in LiteDB, and who may see and change them (the same <see cref="Ownership"/>
/// rules as models). Every write of a dataset or dataset version document goes through this class.
/// </summary>
public sealed class DatasetStore(FeatherDb db, Accounts accounts)
{
    private readonly Ownership _ownership = new(accounts);

    public DatasetRecord? Find(string owner, string name)
    {
        var key = $"{owner}/{name}";
        return db.Datasets.FindOne(d => d.Key == key);
    }

    public IEnumerable<DatasetRecord> All() => db.Datasets.FindAll();

    public DatasetVersionRecord? FindVersion(string datasetId, int number) => db.DatasetVersions.FindById($"{datasetId}-{number}");

    /// <summary>Newest first.</summary>
    public IEnumerable<DatasetVersionRecord> Versions(string datasetId) =>
        db.DatasetVersions.Find(v => v.DatasetId == datasetId).OrderByDescending(v => v.Number);

    /// <summary>
    /// Records the next version, creating the dataset on its first publish. The dataset shows what its newest
    /// version says (title, description, task, licence, citation); a visibility given with the publish applies.
    /// Call it inside the caller's transaction.
    /// </summary>
    public (DatasetRecord Dataset, DatasetVersionRecord Version) AddVersion(NewDatasetVersion v)
    {
        var now = DateTime.UtcNow;
        var dataset = Find(v.Owner, v.Name);
        if (dataset is null)
        {
            dataset = new DatasetRecord
            {
                Id = Common.Ids.New(6), Key = $"{v.Owner}/{v.Name}", Owner = v.Owner, Name = v.Name,
                Visibility = Visibility.Private, CreatedAt = now,
            };
            db.Datasets.Insert(dataset);
        }
        var version = new DatasetVersionRecord
        {
            DatasetId = dataset.Id, Number = dataset.LatestVersion + 1, ManifestJson = v.ManifestJson, Records = v.Manifest.Records,
            Files = v.Files, RecordCount = v.RecordCount, ExamplesJson = v.ExamplesJson, Publisher = v.Publisher, Notes = v.Notes,
            CreatedAt = now,
        };
        version.Id = $"{dataset.Id}-{version.Number}";
        db.DatasetVersions.Insert(version);

        var m = v.Manifest;
        dataset.LatestVersion = version.Number;
        dataset.Title = m.Title;
        dataset.Description = m.Description;
        dataset.Task = m.Task;
        dataset.Split = m.SplitOrDefault;
        dataset.Licence = m.Licence;
        dataset.Citation = m.Citation;
        dataset.RecordCount = v.RecordCount;
        if (v.Visibility is not null) dataset.Visibility = v.Visibility;
        Save(dataset);
        return (dataset, version);
    }

    /// <summary>Changes the visibility and/or the description (null: unchanged).</summary>
    public DatasetChange Update(string owner, string name, Caller caller, string? visibility, string? description)
    {
        var dataset = Find(owner, name);
        if (dataset is null || !CanRead(dataset, caller)) return new DatasetChange(DatasetChangeStatus.NotFound, null);
        if (!CanWrite(dataset, caller)) return new DatasetChange(DatasetChangeStatus.Forbidden, dataset);
        if (visibility is not null && !Visibility.All.Contains(visibility)) return new DatasetChange(DatasetChangeStatus.UnknownVisibility, dataset);
        if (visibility is not null) dataset.Visibility = visibility;
        if (description is not null) dataset.Description = description;
        Save(dataset);
        return new DatasetChange(DatasetChangeStatus.Changed, dataset);
    }

    private void Save(DatasetRecord dataset)
    {
        dataset.UpdatedAt = DateTime.UtcNow;
        db.Datasets.Update(dataset);
    }

    public bool CanWrite(DatasetRecord dataset, Caller caller) => _ownership.CanWrite(dataset.Owner, caller);

    /// <summary>Private datasets exist only for those who can write them (others get 404).</summary>
    public bool CanRead(DatasetRecord dataset, Caller caller) => _ownership.CanRead(dataset.Owner, dataset.Visibility, caller);

    public bool IsListed(DatasetRecord dataset, Caller caller) => _ownership.IsListed(dataset.Owner, dataset.Visibility, caller);

    public bool CanPublishAs(string owner, Caller caller) => _ownership.CanPublishAs(owner, caller);

    /// <summary>
    /// True when a dataset version the caller may write already holds a file with this hash: only then may a
    /// publish skip uploading it (knowing a hash must not give access to someone else's file).
    /// </summary>
    public bool CallerHolds(string sha256, Caller caller) =>
        !caller.IsAnonymous && db.DatasetVersions.Find(v => v.Files.Select(f => f.Sha256).Any(s => s == sha256))
            .Select(v => db.Datasets.FindById(v.DatasetId)).Any(d => d is not null && CanWrite(d, caller));
}

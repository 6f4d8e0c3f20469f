using Feather.Server.Auth;
using Feather.Server.Storage;

namespace Feather.Server.Models;

/// <summary>
/// What a completed publish records: the model's owner and name (the model is created on its first
/// publish) and the new version's content; the catalogue fields come from its metadata when it goes live.
/// </summary>
public sealed record NewVersion(
    string Owner, string Name, string? Visibility, bool Promote, string Publisher, string? Notes,
    string MetadataJson, List<VersionFileRecord> Files, EnvironmentRecord Environment, VersionLineageRecord? Lineage = null);

/// <summary>How a change to a model went; the endpoints turn each into its HTTP answer.</summary>
public enum ModelChangeStatus
{
    Changed,
    /// <summary>The model already was as asked; nothing was saved.</summary>
    Unchanged,
    /// <summary>No such model, or the caller may not see it.</summary>
    NotFound,
    /// <summary>The caller sees the model but may not change it.</summary>
    Forbidden,
    /// <summary>The visibility is not one of <see cref="Visibility.All"/>.</summary>
    UnknownVisibility,
    /// <summary>The version is missing, or neither a version number of the model nor one of its tags.</summary>
    UnknownVersion,
    /// <summary>The tag's name breaks <see cref="ModelStore.IsTagName"/>.</summary>
    InvalidTagName,
    /// <summary>The model has no tag of that name.</summary>
    UnknownTag,
    /// <summary>A rollback with no earlier live version.</summary>
    NoEarlierLiveVersion,
}

/// <summary>The outcome of a change and the model as it now is (null only for <see cref="ModelChangeStatus.NotFound"/>).</summary>
public readonly record struct ModelChange(ModelChangeStatus Status, ModelRecord? Model);

/// <summary>
/// Models and versions in LiteDB, plus who may see and change them. Every write of a model or version
/// document goes through this class.
/// </summary>
public sealed class ModelStore(FeatherDb db, Accounts accounts)
{
    private readonly Ownership _ownership = new(accounts);

    public FeatherDb Db => db;

    public ModelRecord? Find(string owner, string name)
    {
        var key = $"{owner}/{name}";
        return db.Models.FindOne(m => m.Key == key);
    }

    public ModelRecord? FindById(string id) => db.Models.FindById(id);

    public VersionRecord? FindVersion(string modelId, int number) => db.Versions.FindById($"{modelId}-{number}");

    public IEnumerable<VersionRecord> Versions(string modelId) =>
        db.Versions.Find(v => v.ModelId == modelId).OrderBy(v => v.Number);

    public IEnumerable<ModelRecord> All() => db.Models.FindAll();

    public VersionRecord? FindVersionById(string versionId) => db.Versions.FindById(versionId);

    /// <summary>Versions whose image is pending or was building when the previous process stopped.</summary>
    public IEnumerable<VersionRecord> UnfinishedBuilds() =>
        db.Versions.Find(v => v.ImageStatus == ImageStatus.Pending || v.ImageStatus == ImageStatus.Building);

    /// <summary>
    /// Records the next version of <see cref="NewVersion.Owner"/>/<see cref="NewVersion.Name"/>, creating the model
    /// on its first publish; the version goes live when asked to or when the model has no live version yet.
    /// Call it inside the caller's transaction when other documents change with it.
    /// </summary>
    public (ModelRecord Model, VersionRecord Version) AddVersion(NewVersion v)
    {
        var now = DateTime.UtcNow;
        var model = Find(v.Owner, v.Name);
        if (model is null)
        {
            model = new ModelRecord
            {
                Id = Common.Ids.New(6), Key = $"{v.Owner}/{v.Name}", Owner = v.Owner, Name = v.Name,
                Visibility = v.Visibility ?? Visibility.Private, CreatedAt = now,
            };
            db.Models.Insert(model);
        }
        var version = new VersionRecord
        {
            ModelId = model.Id, Number = model.LatestVersion + 1, MetadataJson = v.MetadataJson,
            Files = v.Files, Publisher = v.Publisher, Notes = v.Notes, CreatedAt = now, Environment = v.Environment,
            RequestedVisibility = v.Visibility, Lineage = v.Lineage,
        };
        version.Id = $"{model.Id}-{version.Number}";
        model.LatestVersion = version.Number;
        // promote: false leaves the live model as it is (live version, description, tags, visibility) until the
        // version is promoted; the first version of a model always goes live
        if (v.Promote || model.LiveVersion is null) MakeLive(model, version, withVisibility: true);
        db.Versions.Insert(version);
        Save(model);
        return (model, version);
    }

    public void Save(ModelRecord model)
    {
        model.UpdatedAt = DateTime.UtcNow;
        db.Models.Update(model);
    }

    public void SaveVersion(VersionRecord version) => db.Versions.Update(version);

    /// <summary>Marks the versions built into <paramref name="versionImage"/> as removed; a run rebuilds them.</summary>
    /// <summary>
    /// Records how the model's preparation went on every version built into <paramref name="versionImage"/> with that
    /// entrypoint (null failure: it succeeded). Saved only when it changes.
    /// </summary>
    public void RecordPreparation(string versionImage, string entrypoint, Sandbox.PreparationFailure? failure)
    {
        foreach (var version in db.Versions.Find(v => v.VersionImage == versionImage).ToList())
        {
            using (var metadata = System.Text.Json.JsonDocument.Parse(version.MetadataJson))
                if (Publishing.MetadataValidator.Str(metadata.RootElement, "entrypoint") != entrypoint) continue;
            var status = failure is null ? PreparationStatus.Ready : PreparationStatus.Failed;
            if (version.PreparationStatus == status && version.PreparationMessage == failure?.Message) continue;
            version.PreparationStatus = status;
            version.PreparationMessage = failure?.Message;
            version.PreparationErrorJson = failure?.ErrorJson;
            version.PreparationLog = failure?.Log;
            version.PreparationAt = failure?.At ?? DateTime.UtcNow;
            db.Versions.Update(version);
        }
    }

    /// <summary>
    /// Raised after a model's live version changed (made live at publish, promoted, rolled back): the version that
    /// was live and the one that is now. The runner releases the old version's prepared containers.
    /// </summary>
    public event Action<VersionRecord, VersionRecord>? LiveChanged;

    private void RaiseLiveChanged(ModelRecord model, int? previous, VersionRecord? current)
    {
        if (previous is not { } was || current is null || was == current.Number || LiveChanged is null) return;
        if (FindVersion(model.Id, was) is { } old) LiveChanged(old, current);
    }

    public void MarkImageRemoved(string versionImage, string reason)
    {
        foreach (var version in db.Versions.Find(v => v.VersionImage == versionImage).ToList())
        {
            version.ImageStatus = ImageStatus.Removed;
            version.ImageError = reason;
            db.Versions.Update(version);
        }
    }

    /// <summary>Changes the visibility and/or the description (null: unchanged).</summary>
    public ModelChange Update(string owner, string name, Caller caller, string? visibility, string? description) =>
        Change(owner, name, caller, model =>
        {
            if (visibility is not null)
            {
                if (!Visibility.All.Contains(visibility)) return ModelChangeStatus.UnknownVisibility;
                model.Visibility = visibility;
            }
            if (description is not null) model.Description = description;
            return ModelChangeStatus.Changed;
        });

    /// <summary>
    /// Makes a version (number or tag) the live one; the previous live version is remembered for rollback, and
    /// the model shows the version's description, tags and the visibility its publish asked for.
    /// </summary>
    public ModelChange Promote(string owner, string name, Caller caller, string? version) =>
        Change(owner, name, caller, model =>
        {
            var number = Resolve(model, version);
            if (version is null || number is null) return ModelChangeStatus.UnknownVersion;
            if (number == model.LiveVersion) return ModelChangeStatus.Unchanged;
            MakeLive(model, FindVersion(model.Id, number.Value)!, withVisibility: true);
            return ModelChangeStatus.Changed;
        });

    /// <summary>Makes the previous live version live again.</summary>
    public ModelChange Rollback(string owner, string name, Caller caller) =>
        Change(owner, name, caller, model =>
        {
            if (model.LiveHistory.Count == 0) return ModelChangeStatus.NoEarlierLiveVersion;
            var was = model.LiveVersion;
            model.LiveVersion = model.LiveHistory[^1];
            RaiseLiveChanged(model, was, FindVersion(model.Id, model.LiveVersion.Value));
            model.LiveHistory.RemoveAt(model.LiveHistory.Count - 1);
            // the returned-to version's description and tags; the visibility stays as it is now
            if (FindVersion(model.Id, model.LiveVersion.Value) is { } live) ShowVersion(model, live);
            return ModelChangeStatus.Changed;
        });

    /// <summary>Points <paramref name="tag"/> at a version (number or tag).</summary>
    public ModelChange SetTag(string owner, string name, Caller caller, string tag, string? version) =>
        Change(owner, name, caller, model =>
        {
            if (!IsTagName(tag)) return ModelChangeStatus.InvalidTagName;
            var number = Resolve(model, version);
            if (version is null || number is null) return ModelChangeStatus.UnknownVersion;
            model.Tags[tag] = number.Value;
            return ModelChangeStatus.Changed;
        });

    public ModelChange DeleteTag(string owner, string name, Caller caller, string tag) =>
        Change(owner, name, caller, model => model.Tags.Remove(tag) ? ModelChangeStatus.Changed : ModelChangeStatus.UnknownTag);

    /// <summary>A tag is 1-32 lowercase letters, digits, '-' or '.', starting with a letter, and not 'live'.</summary>
    public static bool IsTagName(string tag) =>
        tag is { Length: >= 1 and <= 32 } && tag != "live" && char.IsAsciiLetterLower(tag[0]) &&
        tag.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.');

    /// <summary>
    /// Applies <paramref name="change"/> to a model the caller may write (others' private models are not
    /// found, readable ones without rights forbidden) and saves it when the change answers <see cref="ModelChangeStatus.Changed"/>.
    /// </summary>
    private ModelChange Change(string owner, string name, Caller caller, Func<ModelRecord, ModelChangeStatus> change)
    {
        var model = Find(owner, name);
        if (model is null || !CanRead(model, caller)) return new ModelChange(ModelChangeStatus.NotFound, null);
        if (!CanWrite(model, caller)) return new ModelChange(ModelChangeStatus.Forbidden, model);
        var status = change(model);
        if (status == ModelChangeStatus.Changed) Save(model);
        return new ModelChange(status, model);
    }

    /// <summary>
    /// Makes <paramref name="version"/> the live version (the previous one is remembered for rollback) and shows
    /// what it was published with: the description and tags of its metadata and, when <paramref name="withVisibility"/>,
    /// the visibility its publish asked for. A version published with promote: false changes none of these until then.
    /// </summary>
    public void MakeLive(ModelRecord model, VersionRecord version, bool withVisibility)
    {
        if (model.LiveVersion != version.Number)
        {
            var was = model.LiveVersion;
            if (model.LiveVersion is { } previous) model.LiveHistory.Add(previous);
            model.LiveVersion = version.Number;
            RaiseLiveChanged(model, was, version);
        }
        ShowVersion(model, version);
        if (withVisibility && version.RequestedVisibility is { } visibility) model.Visibility = visibility;
    }

    /// <summary>The model's description and catalogue tags from a version's metadata.</summary>
    public static void ShowVersion(ModelRecord model, VersionRecord version)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(version.MetadataJson);
        var metadata = doc.RootElement;
        model.Description = Publishing.MetadataValidator.Str(metadata, "description") ?? "";
        model.Title = Publishing.MetadataValidator.Str(metadata, "title");
        var tags = metadata.TryGetProperty("tags", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.Object ? t : default;
        model.TaskTags = tags.ValueKind == System.Text.Json.JsonValueKind.Object ? Publishing.MetadataValidator.StringArray(tags, "task", "", (_, _) => { }, false) : [];
        model.DatasetTags = tags.ValueKind == System.Text.Json.JsonValueKind.Object ? Publishing.MetadataValidator.StringArray(tags, "dataset", "", (_, _) => { }, false) : [];
    }

    /// <summary>Resolves "live" (or nothing), a number, or a tag to a version number.</summary>
    public int? Resolve(ModelRecord model, string? reference)
    {
        if (string.IsNullOrEmpty(reference) || reference == "live") return model.LiveVersion;
        if (int.TryParse(reference, out var n)) return n >= 1 && n <= model.LatestVersion ? n : null;
        return model.Tags.TryGetValue(reference, out var tagged) ? tagged : null;
    }

    /// <summary>Owner, team member or admin: may publish, promote, tag and change visibility.</summary>
    public bool CanWrite(ModelRecord model, Caller caller) => _ownership.CanWrite(model.Owner, caller);

    /// <summary>Private models exist only for those who can write them (others get 404).</summary>
    public bool CanRead(ModelRecord model, Caller caller) => _ownership.CanRead(model.Owner, model.Visibility, caller);

    /// <summary>
    /// True when a version the caller may write already holds a file with this hash. Only then may a
    /// publish skip uploading it: knowing a hash must not give access to someone else's file.
    /// </summary>
    public bool CallerHolds(string sha256, Caller caller) =>
        !caller.IsAnonymous && db.Versions.Find(v => v.Files.Select(f => f.Sha256).Any(s => s == sha256))
            .Select(v => FindById(v.ModelId)).Any(m => m is not null && CanWrite(m, caller));

    public bool IsListed(ModelRecord model, Caller caller) => _ownership.IsListed(model.Owner, model.Visibility, caller);

    /// <summary>Who may own a model: the caller, a team of the caller, or anyone for an admin.</summary>
    public bool CanPublishAs(string owner, Caller caller) => _ownership.CanPublishAs(owner, caller);
}

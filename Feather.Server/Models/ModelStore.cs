using Feather.Server.Auth;
using Feather.Server.Storage;

namespace Feather.Server.Models;

/// <summary>Models and versions in LiteDB, plus who may see and change them.</summary>
public sealed class ModelStore(FeatherDb db, Accounts accounts)
{
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

    public void Save(ModelRecord model)
    {
        model.UpdatedAt = DateTime.UtcNow;
        db.Models.Update(model);
    }

    public void SaveVersion(VersionRecord version) => db.Versions.Update(version);

    /// <summary>
    /// Makes <paramref name="version"/> the live version (the previous one is remembered for rollback) and shows
    /// what it was published with: the description and tags of its metadata and, when <paramref name="withVisibility"/>,
    /// the visibility its publish asked for. A version published with promote: false changes none of these until then.
    /// </summary>
    public void MakeLive(ModelRecord model, VersionRecord version, bool withVisibility)
    {
        if (model.LiveVersion != version.Number)
        {
            if (model.LiveVersion is { } previous) model.LiveHistory.Add(previous);
            model.LiveVersion = version.Number;
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
    public bool CanWrite(ModelRecord model, Caller caller) =>
        !caller.IsAnonymous && (caller.IsAdmin || model.Owner == caller.Username || accounts.IsMember(model.Owner, caller.Username!));

    /// <summary>Private models exist only for those who can write them (others get 404).</summary>
    public bool CanRead(ModelRecord model, Caller caller) =>
        model.Visibility is Visibility.Public or Visibility.Unlisted || CanWrite(model, caller);

    /// <summary>
    /// True when a version the caller may write already holds a file with this hash. Only then may a
    /// publish skip uploading it: knowing a hash must not give access to someone else's file.
    /// </summary>
    public bool CallerHolds(string sha256, Caller caller) =>
        !caller.IsAnonymous && db.Versions.Find(v => v.Files.Select(f => f.Sha256).Any(s => s == sha256))
            .Select(v => FindById(v.ModelId)).Any(m => m is not null && CanWrite(m, caller));

    public bool IsListed(ModelRecord model, Caller caller) =>
        model.Visibility == Visibility.Public || CanWrite(model, caller);

    /// <summary>Who may own a model: the caller, a team of the caller, or anyone for an admin.</summary>
    public bool CanPublishAs(string owner, Caller caller) =>
        !caller.IsAnonymous && (owner == caller.Username || accounts.IsMember(owner, caller.Username!) ||
                                (caller.IsAdmin && accounts.NameTaken(owner)));
}

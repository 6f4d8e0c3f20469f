using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Storage;

namespace Feather.Server.Finetunes;

/// <summary>
/// Fine-tune jobs in LiteDB and who may see them: a job belongs to its caller (and is visible to admins); to anyone
/// else it does not exist (404). Every write of a job goes through here.
/// </summary>
public sealed class FinetuneStore(FeatherDb db)
{
    public FinetuneRecord? Find(string id) => db.Finetunes.FindById(id);

    public void Insert(FinetuneRecord job) => db.Finetunes.Insert(job);

    public void Save(FinetuneRecord job) => db.Finetunes.Update(job);

    /// <summary>The caller's jobs (an admin's: everyone's), newest first.</summary>
    public IEnumerable<FinetuneRecord> Visible(Caller caller) =>
        (caller.IsAdmin ? db.Finetunes.FindAll() : db.Finetunes.Find(f => f.RequestedBy == caller.Username))
        .OrderByDescending(f => f.CreatedAt);

    /// <summary>Queued, running or saving, oldest first (to resume or fail after a restart).</summary>
    public IEnumerable<FinetuneRecord> Unfinished() =>
        db.Finetunes.Find(f => f.Status == FinetuneStatus.Queued || f.Status == FinetuneStatus.Running || f.Status == FinetuneStatus.Saving)
            .OrderBy(f => f.CreatedAt);

    public static bool CanSee(FinetuneRecord job, Caller caller) => !caller.IsAnonymous && (job.RequestedBy == caller.Username || caller.IsAdmin);
}

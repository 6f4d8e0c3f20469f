using Feather.Server.Auth;
using Feather.Server.Models;

namespace Feather.Server.Runs;

/// <summary>Who reaches a run: runs by a user are theirs (and admins'); anonymous runs whoever has the id; and the model must be readable.</summary>
public static class RunAccess
{
    public static RunRecord? Visible(string runId, Caller caller, RunService runs, ModelStore store)
    {
        var run = runs.Find(runId);
        if (run is null) return null;
        if (run.CreatedBy is not null && run.CreatedBy != caller.Username && !caller.IsAdmin) return null;
        var model = store.FindById(run.ModelId);
        return model is not null && store.CanRead(model, caller) ? run : null;
    }
}

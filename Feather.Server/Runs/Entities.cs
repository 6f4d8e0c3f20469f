using System.Text.Json;

namespace Feather.Server.Runs;

public sealed class RunStepRecord
{
    public int Index { get; set; }
    public string Name { get; set; } = "";
    public string Status { get; set; } = StepStatus.Pending;
    public string? ResponsesJson { get; set; }
    /// <summary>The runtime's "outputs" array, verbatim: the "previous" of the next step.</summary>
    public string? OutputsJson { get; set; }
    public string? ErrorJson { get; set; }
    public string? Message { get; set; }
    public string Logs { get; set; } = "";
    public DateTime? QueuedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? EndedAt { get; set; }
    /// <summary>How many times in a row this step has run at this point of the path (a loop's iteration).</summary>
    public int Iteration { get; set; } = 1;
    /// <summary>The branch the step's result took, as the runtime reported it and the graph allows.</summary>
    public string? Branch { get; set; }
    /// <summary>Once succeeded: the steps the graph offers next (the model's choice first).</summary>
    public List<string>? Next { get; set; }
    /// <summary>Once succeeded: the run may end after this step.</summary>
    public bool Ends { get; set; }
}

public sealed class RunRecord
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Model { get; set; } = "";
    public int Version { get; set; }
    public string? CreatedBy { get; set; }
    public DateTime CreatedAt { get; set; }
    public List<RunStepRecord> Steps { get; set; } = [];
    /// <summary>Steps of branches the run left (a re-run took another branch): kept, stale, for the record.</summary>
    public List<RunStepRecord> Discarded { get; set; } = [];
}

public static class RunMapping
{
    public static StepView ToView(this RunStepRecord s) =>
        new(s.Index, s.Name, s.Status, Parse(s.OutputsJson), Parse(s.ErrorJson), s.Message, s.Logs, s.QueuedAt, s.StartedAt, s.EndedAt,
            s.Iteration, s.Branch, s.Status == StepStatus.Succeeded ? (s.Next ?? []).ToArray() : null, s.Status == StepStatus.Succeeded && s.Ends);

    public static RunView ToView(this RunRecord r) =>
        new(r.Id, r.Owner, r.Model, r.Version, r.CreatedBy, r.CreatedAt, r.Steps.Select(ToView).ToArray(),
            IsComplete(r), (r.Discarded ?? []).Select(ToView).ToArray());

    /// <summary>The path has succeeded up to a step after which the run may end.</summary>
    public static bool IsComplete(RunRecord r)
    {
        foreach (var s in r.Steps)
        {
            if (s.Status != StepStatus.Succeeded) return false;
            if (s.Ends) return true;
        }
        return false;
    }

    private static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

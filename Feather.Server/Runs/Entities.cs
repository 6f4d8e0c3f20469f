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
}

public static class RunMapping
{
    public static StepView ToView(this RunStepRecord s) =>
        new(s.Index, s.Name, s.Status, Parse(s.OutputsJson), Parse(s.ErrorJson), s.Message, s.Logs, s.QueuedAt, s.StartedAt, s.EndedAt);

    public static RunView ToView(this RunRecord r) =>
        new(r.Id, r.Owner, r.Model, r.Version, r.CreatedBy, r.CreatedAt, r.Steps.Select(ToView).ToArray());

    private static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

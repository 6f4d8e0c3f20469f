using System.Text.Json;

namespace Feather.Server.Feedback;

/// <summary>One piece of feedback on an output (or one item of it) of a step.</summary>
public sealed class FeedbackRecord
{
    public string Id { get; set; } = "";
    public string RunId { get; set; } = "";
    public int Step { get; set; }
    public string StepName { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Model { get; set; } = "";
    public int Version { get; set; }
    public string Output { get; set; } = "";
    public int? Item { get; set; }
    public string? Rating { get; set; }
    public string? Label { get; set; }
    public int? LabelItem { get; set; }
    public string? Comment { get; set; }
    public string? Prediction { get; set; }
    public string? Answer { get; set; }
    /// <summary>Null for an anonymous consumer.</summary>
    public string? CreatedBy { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>The <see cref="FeedbackShareRecord"/> holding the step's inputs and outputs.</summary>
    public string ShareId { get; set; } = "";
}

/// <summary>
/// The copy of one step's inputs and outputs that giving feedback shares with the model's owner. Shared by every
/// piece of feedback on that step as it was then; it outlives the run (retention) and goes with its last feedback.
/// </summary>
public sealed class FeedbackShareRecord
{
    /// <summary>"{runId}-{step}-{hash of inputs and outputs}".</summary>
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public string InputsJson { get; set; } = "{}";
    public string OutputsJson { get; set; } = "[]";
}

public static class FeedbackMapping
{
    public static FeedbackView ToView(this FeedbackRecord f, FeedbackShareRecord? share) =>
        new(f.Id, f.RunId, f.Step, f.StepName, f.Owner, f.Model, f.Version, f.Output, f.Item, f.Rating, f.Label, f.LabelItem, f.Comment,
            f.Prediction, f.Answer, f.CreatedBy, f.CreatedAt, Parse(share?.InputsJson), Parse(share?.OutputsJson));

    private static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

using System.Text.Json;

namespace Feather.Contracts;

/// <summary>What a model consumer thinks of an output: <see cref="Correct"/> or <see cref="Incorrect"/>.</summary>
public static class FeedbackRating
{
    public const string Correct = "correct";
    public const string Incorrect = "incorrect";
    public static readonly string[] All = [Correct, Incorrect];
}

/// <summary>
/// Feedback on one output of a step (<paramref name="Output"/> names it), or on one item of it (<paramref name="Item"/>:
/// image, text or document number, from 0). At least one of a rating, a label and a comment.
/// </summary>
/// <param name="Rating"><c>correct</c> or <c>incorrect</c>.</param>
/// <param name="Label">The right answer, typed.</param>
/// <param name="LabelItem">The right answer, chosen from the items the output offered (its index).</param>
public sealed record FeedbackRequest(string Output, int? Item = null, string? Rating = null, string? Label = null, int? LabelItem = null,
    string? Comment = null);

/// <summary>
/// One piece of feedback. <paramref name="Inputs"/> (the step's responses) and <paramref name="Outputs"/> (the step's
/// outputs) are the copy shared with the model's owner when the feedback was given; files are inline as in a run.
/// </summary>
/// <param name="Prediction">What the model answered for the output or item, as text (null when it is not text-like).</param>
/// <param name="Answer">The corrected label as text: <paramref name="Label"/>, the item <paramref name="LabelItem"/> names, or the
/// prediction when the rating is <c>correct</c>.</param>
public sealed record FeedbackView(string Id, string RunId, int Step, string StepName, string Owner, string Model, int Version,
    string Output, int? Item, string? Rating, string? Label, int? LabelItem, string? Comment, string? Prediction, string? Answer,
    string? CreatedBy, DateTime CreatedAt, JsonElement? Inputs, JsonElement? Outputs);

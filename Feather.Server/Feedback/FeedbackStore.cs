using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Runs;
using Feather.Server.Storage;
using LiteDB;

namespace Feather.Server.Feedback;

/// <summary>Feedback as given, or why it was refused (400 with the field, 404, 409).</summary>
public abstract record GiveResult
{
    private GiveResult() { }
    public sealed record Given(FeedbackRecord Feedback, FeedbackShareRecord Share) : GiveResult;
    public sealed record Invalid(string Field, string Message) : GiveResult;
    public sealed record NotFound(string Message) : GiveResult;
    public sealed record Conflict(string Message) : GiveResult;
}

/// <summary>
/// The feedback of model consumers, in the <c>feedback</c> collection, and the copies of the steps' inputs and outputs
/// it shares with the model's owner (<c>feedback_shares</c>). A share goes when its last feedback is deleted.
/// </summary>
public sealed class FeedbackStore
{
    public const int MaxText = 10_000;

    /// <summary>
    /// The step files a share keeps (their bytes copied into it), in all: a share outlives its run, whose files the
    /// retention sweep removes, and the export and the owner's view read them from the share.
    /// </summary>
    public const long MaxSharedFileBytes = 6L << 20;

    private readonly FeatherDb _db;
    private readonly RunFileStore? _files;

    public FeedbackStore(FeatherDb db, RunFileStore? files = null)
    {
        _db = db;
        _files = files;
        Feedback.EnsureIndex(f => f.ModelId);
        Feedback.EnsureIndex(f => f.RunId);
        Feedback.EnsureIndex(f => f.ShareId);
    }

    private ILiteCollection<FeedbackRecord> Feedback => _db.Collection<FeedbackRecord>("feedback");
    private ILiteCollection<FeedbackShareRecord> Shares => _db.Collection<FeedbackShareRecord>("feedback_shares");

    public FeedbackShareRecord? Share(string id) => Shares.FindById(id);

    /// <summary>
    /// The step's inputs or outputs with each step file the run keeps (<c>{"file", "url", ...}</c>) replaced by its
    /// bytes inline (<c>"data"</c>, base64, as a file sent inline), while <paramref name="budget"/> lasts; a file past
    /// it keeps its name, type and size and says it was not kept.
    /// </summary>
    private string KeepFiles(string runId, string json, ref long budget)
    {
        if (_files is null || !json.Contains("\"file\"", StringComparison.Ordinal)) return json;
        var root = System.Text.Json.Nodes.JsonNode.Parse(json);
        var left = budget;
        void Walk(System.Text.Json.Nodes.JsonNode? node)
        {
            switch (node)
            {
                case System.Text.Json.Nodes.JsonObject o:
                    if (o["file"] is System.Text.Json.Nodes.JsonValue id && id.TryGetValue<string>(out var fileId) && o["data"] is null &&
                        _files.Find(runId, fileId) is { } file)
                    {
                        o.Remove("file");
                        o.Remove("url");
                        o["size"] = file.Size;
                        if (file.Size <= left)
                        {
                            using var stream = _files.OpenRead(file);
                            using var buffer = new MemoryStream((int)file.Size);
                            stream.CopyTo(buffer);
                            o["data"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length);
                            left -= file.Size;
                        }
                        else o["note"] = $"not kept with the feedback: over the {MaxSharedFileBytes >> 20} MiB of files a piece of feedback keeps";
                        return;
                    }
                    foreach (var (_, child) in o.ToList()) Walk(child);
                    break;
                case System.Text.Json.Nodes.JsonArray a:
                    foreach (var child in a.ToList()) Walk(child);
                    break;
            }
        }
        Walk(root);
        budget = left;
        return root?.ToJsonString() ?? json;
    }

    public FeedbackRecord? Find(string id) => Feedback.FindById(id);

    /// <summary>Records feedback on step <paramref name="index"/> of <paramref name="run"/> (which the caller may see).</summary>
    public GiveResult Give(RunRecord run, int index, FeedbackRequest request, Caller caller)
    {
        if (index < 0 || index >= run.Steps.Count)
            return new GiveResult.NotFound($"run {run.Id} has steps 0 to {run.Steps.Count - 1}, not {index}");
        var step = run.Steps[index];
        if (step.Status != StepStatus.Succeeded || step.OutputsJson is null)
            return new GiveResult.Conflict($"step {index} ({step.Name}) is {step.Status}; feedback is given on the outputs of a step that succeeded");
        using var outputs = JsonDocument.Parse(step.OutputsJson);
        if (string.IsNullOrEmpty(request.Output))
            return new GiveResult.Invalid("output", "name the output the feedback is about");
        var output = outputs.RootElement.EnumerateArray()
            .FirstOrDefault(o => o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == request.Output);
        if (output.ValueKind == JsonValueKind.Undefined)
            return new GiveResult.Invalid("output", $"step {index} ({step.Name}) has no output '{request.Output}'; it has " +
                string.Join(", ", outputs.RootElement.EnumerateArray().Select(o => $"'{o.GetProperty("name").GetString()}'")));
        var items = OutputItems.Count(output);
        if (request.Item is { } item && (item < 0 || item >= items))
            return new GiveResult.Invalid("item", items == 0
                ? $"output '{request.Output}' has no items; leave out 'item' to give feedback on the whole output"
                : $"output '{request.Output}' has items 0 to {items - 1}, not {item}");
        if (request.Rating is not null && !FeedbackRating.All.Contains(request.Rating))
            return new GiveResult.Invalid("rating", $"'{request.Rating}' is not a rating; use 'correct' or 'incorrect'");
        var choices = OutputItems.Choices(output, request.Item);
        if (request.LabelItem is { } chosen && (chosen < 0 || chosen >= choices.Length))
            return new GiveResult.Invalid("labelItem", choices.Length == 0
                ? $"output '{request.Output}' offers no items to choose the right answer from; type it as 'label'"
                : $"output '{request.Output}' offers answers 0 to {choices.Length - 1}, not {chosen}");
        if (request.Label is { Length: > MaxText }) return new GiveResult.Invalid("label", $"at most {MaxText} characters");
        if (request.Comment is { Length: > MaxText }) return new GiveResult.Invalid("comment", $"at most {MaxText} characters");
        if (request.Rating is null && string.IsNullOrWhiteSpace(request.Label) && request.LabelItem is null && string.IsNullOrWhiteSpace(request.Comment))
            return new GiveResult.Invalid("rating", "give a rating, the right answer ('label' or 'labelItem') or a comment");

        var inputs = step.ResponsesJson ?? "{}";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs + "\n" + step.OutputsJson)))[..16];
        var budget = MaxSharedFileBytes;
        var share = new FeedbackShareRecord
        {
            Id = $"{run.Id}-{index}-{hash}", ModelId = run.ModelId,
            InputsJson = KeepFiles(run.Id, inputs, ref budget), OutputsJson = KeepFiles(run.Id, step.OutputsJson, ref budget),
        };
        var prediction = OutputItems.Prediction(output, request.Item);
        var label = string.IsNullOrWhiteSpace(request.Label) ? null : request.Label;
        var feedback = new FeedbackRecord
        {
            Id = Ids.New(), RunId = run.Id, Step = index, StepName = step.Name, ModelId = run.ModelId, Owner = run.Owner, Model = run.Model,
            Version = run.Version, Output = request.Output, Item = request.Item, Rating = request.Rating, Label = label,
            LabelItem = request.LabelItem, Comment = string.IsNullOrWhiteSpace(request.Comment) ? null : request.Comment,
            Prediction = prediction,
            Answer = label ?? (request.LabelItem is { } c ? choices[c] : request.Rating == FeedbackRating.Correct ? prediction : null),
            CreatedBy = caller.Username, CreatedAt = DateTime.UtcNow, ShareId = share.Id,
        };
        _db.InTransaction(() =>
        {
            Shares.Upsert(share);
            Feedback.Insert(feedback);
            return true;
        });
        return new GiveResult.Given(feedback, share);
    }

    /// <summary>The caller's own feedback on one step of a run.</summary>
    public IEnumerable<FeedbackRecord> OnStep(string runId, int index, Caller caller) =>
        Feedback.Find(f => f.RunId == runId).Where(f => f.Step == index && f.CreatedBy == caller.Username).OrderBy(f => f.CreatedAt);

    /// <summary>A model's feedback, newest first, filtered by version, rating (<c>none</c>: without one) and time.</summary>
    public IEnumerable<FeedbackRecord> ForModel(string modelId, int? version, string? rating, DateTime? from, DateTime? to) =>
        Feedback.Find(f => f.ModelId == modelId)
            .Where(f => version is null || f.Version == version)
            .Where(f => rating is null || (rating == "none" ? f.Rating is null : f.Rating == rating))
            .Where(f => from is null || f.CreatedAt >= from)
            .Where(f => to is null || f.CreatedAt < to)
            .OrderByDescending(f => f.CreatedAt);

    /// <summary>Deletes one piece of feedback, and its share once no feedback refers to it.</summary>
    public bool Delete(string id) => _db.InTransaction(() =>
    {
        var feedback = Feedback.FindById(id);
        if (feedback is null) return false;
        Feedback.Delete(id);
        if (!Feedback.Exists(f => f.ShareId == feedback.ShareId)) Shares.Delete(feedback.ShareId);
        return true;
    });

    /// <summary>Bytes of shared copies held for a model (kept beyond run retention).</summary>
    public long SharedBytes(string modelId) =>
        Shares.Find(s => s.ModelId == modelId).Sum(s => (long)s.InputsJson.Length + s.OutputsJson.Length);
}

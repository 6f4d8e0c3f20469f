using System.Text.Json;
using Feather.Contracts;

namespace Feather.Server.Finetunes;

/// <summary>
/// One fine-tune job: a model version trained on a dataset version with hyperparameters, by and for its caller; once it
/// succeeded, the version it made (<see cref="ResultModel"/> <see cref="ResultVersion"/>).
/// </summary>
public sealed class FinetuneRecord
{
    public string Id { get; set; } = "";
    public string BaseModelId { get; set; } = "";
    /// <summary>OWNER/MODEL of the base model.</summary>
    public string BaseModel { get; set; } = "";
    public int BaseVersion { get; set; }
    public string DatasetId { get; set; } = "";
    /// <summary>OWNER/NAME of the dataset.</summary>
    public string Dataset { get; set; } = "";
    public int DatasetVersion { get; set; }
    public string RequestedBy { get; set; } = "";
    /// <summary>The base version's profile (its limits, and the usage's cost).</summary>
    public string Profile { get; set; } = "low";
    /// <summary>How long its container trained (usage).</summary>
    public double? TrainingSeconds { get; set; }
    public string Status { get; set; } = FinetuneStatus.Queued;
    /// <summary>The hyperparameters, defaults filled in, as a JSON object.</summary>
    public string ParamsJson { get; set; } = "{}";
    public Dictionary<string, double> Metrics { get; set; } = [];
    public List<FinetuneProgressRecord> History { get; set; } = [];
    /// <summary>OWNER/MODEL the new version goes to.</summary>
    public string ResultModel { get; set; } = "";
    public int? ResultVersion { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public double? Seconds { get; set; }
    public string? Error { get; set; }
    public string Logs { get; set; } = "";
}

public sealed class FinetuneProgressRecord
{
    public int? Epoch { get; set; }
    public int? Epochs { get; set; }
    public Dictionary<string, double> Metrics { get; set; } = [];
    public DateTime At { get; set; }
}

public static class FinetuneMapping
{
    public static FinetuneProgress ToView(this FinetuneProgressRecord p) => new(p.Epoch, p.Epochs, new Dictionary<string, double>(p.Metrics), p.At);

    public static FinetuneView ToView(this FinetuneRecord f, IReadOnlyList<FinetuneProgressRecord>? history = null)
    {
        var points = history ?? f.History;
        return new FinetuneView(f.Id, f.BaseModel, f.BaseVersion, f.Dataset, f.DatasetVersion, f.RequestedBy, f.Status, Parse(f.ParamsJson),
            new Dictionary<string, double>(f.Metrics), points.Count == 0 ? null : points[^1].ToView(), f.ResultModel, f.ResultVersion,
            f.CreatedAt, f.StartedAt, f.FinishedAt, f.Seconds, f.Error);
    }

    public static JsonElement Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}

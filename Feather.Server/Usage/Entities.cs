namespace Feather.Server.Usage;

/// <summary>
/// One step as usage: recorded when the step is admitted (so a quota counts steps already queued), completed when it
/// finishes with the seconds it ran. Holds no input or output.
/// </summary>
public sealed class UsageRecord
{
    public string Id { get; set; } = "";
    public string RunId { get; set; } = "";
    public int Step { get; set; }
    /// <summary>Null for an anonymous consumer.</summary>
    public string? User { get; set; }
    /// <summary>The team that owns the model, when a team does.</summary>
    public string? Team { get; set; }
    public string ModelId { get; set; } = "";
    /// <summary>"owner/name".</summary>
    public string Model { get; set; } = "";
    public string Profile { get; set; } = "low";
    public DateTime At { get; set; }
    public DateTime? EndedAt { get; set; }
    public double Seconds { get; set; }
    public double GpuSeconds { get; set; }
    public double Cost { get; set; }
    public bool Failed { get; set; }
    /// <summary>"step", or "finetune" for a fine-tune job (<see cref="RunId"/> is then the job's id).</summary>
    public string Kind { get; set; } = "step";
}

/// <summary>The quotas of one user or team ("user:alice", "team:vision-lab"); a null limit is no limit.</summary>
public sealed class QuotaRecord
{
    public string Id { get; set; } = "";
    public string Kind { get; set; } = "user";
    public string Name { get; set; } = "";
    public int? StepsPerDay { get; set; }
    public double? CpuSecondsPerMonth { get; set; }
    public double? GpuSecondsPerMonth { get; set; }
    public long? StorageBytes { get; set; }

    public QuotaView ToView() => new(Kind, Name, StepsPerDay, CpuSecondsPerMonth, GpuSecondsPerMonth, StorageBytes);
}

/// <summary>Usage settings (section <c>Usage</c>): the cost weight of each profile, and how many owners Prometheus labels name.</summary>
public sealed class UsageOptions
{
    /// <summary>Cost per second of a step, by profile ("pay per execution" in the lab's units): Usage:CostWeights:high=10.</summary>
    public Dictionary<string, double> CostWeights { get; set; } = new() { ["low"] = 1, ["medium"] = 2, ["high"] = 10 };
    /// <summary>Distinct owners named in the metrics' <c>owner</c> label; the rest are counted as <c>other</c>.</summary>
    public int MaxOwnerLabels { get; set; } = 50;
}

namespace Feather.Contracts;

/// <summary>The quotas an admin can set for a user or a team.</summary>
public static class QuotaNames
{
    public const string StepsPerDay = "stepsPerDay";
    public const string CpuSecondsPerMonth = "cpuSecondsPerMonth";
    public const string GpuSecondsPerMonth = "gpuSecondsPerMonth";
    public const string StorageBytes = "storageBytes";
}

/// <summary>Steps and the time they took, for one key (a day <c>2026-12-03</c>, a profile, a model, or the total).</summary>
/// <param name="Seconds">Wall-clock seconds the steps ran (CPU seconds of the quota).</param>
/// <param name="GpuSeconds">Seconds of steps that held a GPU (the <c>high</c> profile).</param>
/// <param name="Cost">Seconds times the profile's cost weight (Usage:CostWeights), in the lab's own units.</param>
public sealed record UsageRow(string Key, int Steps, int Failed, double Seconds, double GpuSeconds, double Cost);

/// <summary>One quota of a user or team: its limit, what is used of it now and when the count starts again (null: never).</summary>
/// <param name="Subject"><c>user:alice</c> or <c>team:vision-lab</c>.</param>
public sealed record QuotaStatus(string Quota, string Subject, double Limit, double Used, DateTime? ResetsAt);

/// <summary>The usage of a user or a team between two instants.</summary>
public sealed record UsageView(string Subject, DateTime From, DateTime To, UsageRow Totals, UsageRow[] ByDay, UsageRow[] ByProfile,
    UsageRow[] ByModel, QuotaStatus[] Quotas);

/// <summary>The quotas of a user or team; a null field has no limit.</summary>
public sealed record QuotaRequest(int? StepsPerDay = null, double? CpuSecondsPerMonth = null, double? GpuSecondsPerMonth = null,
    long? StorageBytes = null);

/// <param name="Kind"><c>user</c> or <c>team</c>.</param>
public sealed record QuotaView(string Kind, string Name, int? StepsPerDay, double? CpuSecondsPerMonth, double? GpuSecondsPerMonth,
    long? StorageBytes);

/// <summary>What a retention sweep removed.</summary>
public sealed record RetentionSweepView(int RunsRemoved, int RunsKeptActive, long BytesRemoved, DateTime At);

using System.Collections.Concurrent;
using Feather.Server.Auth;
using Feather.Server.Common;
using Feather.Server.Runs;
using Feather.Server.Storage;
using LiteDB;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Feather.Server.Usage;

/// <summary>
/// Records every step as usage (who, which model, profile, seconds, GPU seconds, cost) and enforces the admins'
/// quotas before a step is queued: steps per UTC day, CPU and GPU seconds per calendar month (UTC), and the bytes the
/// user's (or team's) runs hold. Admission and its reservation happen under one lock, so parallel submissions cannot
/// both take the last step of a quota.
/// </summary>
public sealed class UsageService : IStepAdmission, IStepObserver
{
    private static readonly Counter StepsCounter = Metrics.CreateCounter("feather_usage_steps_total",
        "Steps finished, by profile, model owner (at most Usage:MaxOwnerLabels owners, the rest 'other') and outcome.",
        new CounterConfiguration { LabelNames = ["profile", "owner", "outcome"] });
    private static readonly Counter SecondsCounter = Metrics.CreateCounter("feather_usage_step_seconds_total",
        "Seconds steps ran, by profile and model owner.", new CounterConfiguration { LabelNames = ["profile", "owner"] });
    private static readonly Counter CostCounter = Metrics.CreateCounter("feather_usage_cost_total",
        "Cost (seconds times the profile's weight), by profile and model owner.", new CounterConfiguration { LabelNames = ["profile", "owner"] });
    private static readonly Counter RefusedCounter = Metrics.CreateCounter("feather_usage_quota_refusals_total",
        "Steps refused by a quota, by quota.", new CounterConfiguration { LabelNames = ["quota"] });

    private readonly FeatherDb _db;
    private readonly Accounts _accounts;
    private readonly UsageOptions _options;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<string, bool> _ownerLabels = new();

    public UsageService(FeatherDb db, Accounts accounts, IOptions<UsageOptions> options, TimeProvider time)
    {
        _db = db;
        _accounts = accounts;
        _options = options.Value;
        _time = time;
        Records.EnsureIndex(u => u.User);
        Records.EnsureIndex(u => u.Team);
        Records.EnsureIndex(u => u.At);
        Records.EnsureIndex(u => u.RunId);
    }

    private ILiteCollection<UsageRecord> Records => _db.Collection<UsageRecord>("usage");
    private ILiteCollection<QuotaRecord> Quotas => _db.Collection<QuotaRecord>("quotas");

    public double Weight(string profile) => _options.CostWeights.TryGetValue(profile, out var w) ? w : 1;

    public StepRefusal? Admit(RunRecord run, int index, string profile)
    {
        var team = _accounts.FindTeam(run.Owner) is not null ? run.Owner : null;
        lock (_gate)
        {
            var now = _time.GetUtcNow().UtcDateTime;
            // a signed-in user's step counts against their quota; an anonymous one against the quota of all anonymous visitors
            var who = run.CreatedBy is null ? (QuotaKinds.Anonymous, QuotaKinds.AllAnonymous) : (QuotaKinds.User, run.CreatedBy);
            foreach (var (kind, name) in new[] { who, (QuotaKinds.Team, team) })
            {
                if (name is null || Quotas.FindById($"{kind}:{name}") is not { } quota) continue;
                if (Check(quota, profile, now) is { } refusal)
                {
                    RefusedCounter.WithLabels(refusal.Details["quota"]!.ToString()!).Inc();
                    return refusal;
                }
            }
            Records.Insert(new UsageRecord
            {
                Id = Ids.New(), RunId = run.Id, Step = index, User = run.CreatedBy, Team = team, ModelId = run.ModelId,
                Model = $"{run.Owner}/{run.Model}", Profile = profile, At = now,
            });
            return null;
        }
    }

    /// <summary>
    /// A fine-tune job as usage of its caller (docs/finetuning.md): checked against the caller's quotas as one more step
    /// (of the base version's profile) and recorded at once, so a quota counts jobs already queued; <see cref="JobFinished"/>
    /// completes it with the seconds its container trained. A team's quota does not apply: the result is the caller's.
    /// </summary>
    public StepRefusal? AdmitJob(string jobId, string user, string modelId, string model, string profile)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow().UtcDateTime;
            if (Quotas.FindById($"user:{user}") is { } quota && Check(quota, profile, now) is { } refusal)
            {
                RefusedCounter.WithLabels(refusal.Details["quota"]!.ToString()!).Inc();
                return refusal;
            }
            Records.Insert(new UsageRecord
            {
                Id = Ids.New(), RunId = jobId, Step = 0, User = user, ModelId = modelId, Model = model, Profile = profile, At = now, Kind = "finetune",
            });
            return null;
        }
    }

    /// <summary>Completes a fine-tune job's usage record: the seconds its container trained, its cost, whether it failed.</summary>
    public void JobFinished(string jobId, double seconds, string profile, bool failed)
    {
        lock (_gate)
        {
            var record = Records.Find(u => u.RunId == jobId).FirstOrDefault(u => u.Kind == "finetune" && u.EndedAt == null);
            if (record is null) return;
            record.EndedAt = _time.GetUtcNow().UtcDateTime;
            record.Seconds = Math.Round(Math.Max(0, seconds), 3);
            record.GpuSeconds = profile == "high" ? record.Seconds : 0;
            record.Cost = Math.Round(record.Seconds * Weight(profile), 3);
            record.Failed = failed;
            Records.Update(record);
        }
    }

    /// <summary>The first quota of <paramref name="quota"/> that one more step would break, as a refusal.</summary>
    private StepRefusal? Check(QuotaRecord quota, string profile, DateTime now)
    {
        foreach (var status in Statuses(quota, now))
        {
            if (status.Quota == QuotaNames.GpuSecondsPerMonth && profile != "high") continue;
            if (status.Used < status.Limit) continue;
            var subject = quota.Kind switch { QuotaKinds.Team => $"team {quota.Name}", QuotaKinds.Anonymous => "anonymous visitors", _ => $"user {quota.Name}" };
            var reset = status.ResetsAt is { } at ? $"; it resets at {at:yyyy-MM-dd HH:mm} UTC" : "; delete runs to free storage";
            return new StepRefusal(
                $"the {status.Quota} quota of {subject} is used up: {Format(status.Used)} of {Format(status.Limit)}{reset}",
                status.ResetsAt is { } r ? r - now : null,
                new Dictionary<string, object?>
                {
                    ["quota"] = status.Quota, ["subject"] = status.Subject, ["limit"] = status.Limit, ["used"] = status.Used,
                    ["resetsAt"] = status.ResetsAt,
                });
        }
        return null;
    }

    private static string Format(double value) => value.ToString(value == Math.Floor(value) ? "0" : "0.##", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Every limit of a quota with what is used of it now.</summary>
    public IEnumerable<QuotaStatus> Statuses(QuotaRecord quota, DateTime now)
    {
        var day = now.Date;
        var month = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var subject = quota.Id;
        IEnumerable<UsageRecord> Since(DateTime from) => Of(quota.Kind, quota.Name, from, DateTime.MaxValue);
        if (quota.StepsPerDay is { } steps)
            yield return new QuotaStatus(QuotaNames.StepsPerDay, subject, steps, Since(day).Count(), day.AddDays(1));
        if (quota.CpuSecondsPerMonth is { } cpu)
            yield return new QuotaStatus(QuotaNames.CpuSecondsPerMonth, subject, cpu, Math.Round(Since(month).Sum(u => u.Seconds), 3), month.AddMonths(1));
        if (quota.GpuSecondsPerMonth is { } gpu)
            yield return new QuotaStatus(QuotaNames.GpuSecondsPerMonth, subject, gpu, Math.Round(Since(month).Sum(u => u.GpuSeconds), 3), month.AddMonths(1));
        if (quota.StorageBytes is { } bytes)
            yield return new QuotaStatus(QuotaNames.StorageBytes, subject, bytes, StorageOf(quota.Kind, quota.Name), null);
    }

    /// <summary>The usage records of a user, a team (its models' steps) or of all anonymous visitors, from one instant to another.</summary>
    private IEnumerable<UsageRecord> Of(string kind, string name, DateTime from, DateTime to) => kind switch
    {
        QuotaKinds.Team => Records.Find(u => u.Team == name && u.At >= from && u.At < to),
        QuotaKinds.Anonymous => Records.Find(u => u.User == null && u.At >= from && u.At < to),
        _ => Records.Find(u => u.User == name && u.At >= from && u.At < to),
    };

    /// <summary>The bytes the runs of a user (or of a team's models, or of anonymous visitors) hold: their steps' inputs and outputs.</summary>
    public long StorageOf(string kind, string name)
    {
        var runs = kind switch
        {
            QuotaKinds.Team => _db.Runs.Find(r => r.Owner == name),
            QuotaKinds.Anonymous => _db.Runs.Find(r => r.CreatedBy == null),
            _ => _db.Runs.Find(r => r.CreatedBy == name),
        };
        return runs.Sum(r => r.Steps.Sum(s => (long)(s.ResponsesJson?.Length ?? 0) + (s.OutputsJson?.Length ?? 0)));
    }

    public void Finished(StepFinished finished)
    {
        var (run, step, profile, duration) = (finished.Run, finished.Step, finished.Profile, finished.Duration);
        var seconds = duration.TotalSeconds > 0 ? duration.TotalSeconds
            : step.StartedAt is { } s && step.EndedAt is { } e ? Math.Max(0, (e - s).TotalSeconds) : 0;
        var failed = step.Status != StepStatus.Succeeded;
        lock (_gate)
        {
            var record = Records.Find(u => u.RunId == run.Id).Where(u => u.Step == step.Index && u.EndedAt == null)
                .OrderByDescending(u => u.At).FirstOrDefault();
            if (record is null) return;
            record.EndedAt = step.EndedAt ?? _time.GetUtcNow().UtcDateTime;
            record.Seconds = Math.Round(seconds, 3);
            record.GpuSeconds = profile == "high" ? record.Seconds : 0;
            record.Cost = Math.Round(seconds * Weight(profile), 3);
            record.Failed = failed;
            Records.Update(record);
        }
        var owner = OwnerLabel(run.Owner);
        StepsCounter.WithLabels(profile, owner, failed ? step.Status : "succeeded").Inc();
        SecondsCounter.WithLabels(profile, owner).Inc(seconds);
        CostCounter.WithLabels(profile, owner).Inc(seconds * Weight(profile));
    }

    private string OwnerLabel(string owner)
    {
        if (_ownerLabels.ContainsKey(owner)) return owner;
        if (_ownerLabels.Count >= _options.MaxOwnerLabels) return "other";
        _ownerLabels.TryAdd(owner, true);
        return owner;
    }

    /// <summary>Usage of a user (<paramref name="kind"/> user), a team or all anonymous visitors between two instants, by day, profile and model.</summary>
    public UsageView Report(string kind, string name, DateTime from, DateTime to)
    {
        var records = Of(kind, name, from, to).ToList();
        var quota = Quotas.FindById($"{kind}:{name}");
        var now = _time.GetUtcNow().UtcDateTime;
        return new UsageView($"{kind}:{name}", from, to, Row("total", records),
            records.GroupBy(u => u.At.ToString("yyyy-MM-dd")).OrderBy(g => g.Key).Select(g => Row(g.Key, g)).ToArray(),
            records.GroupBy(u => u.Profile).OrderBy(g => g.Key).Select(g => Row(g.Key, g)).ToArray(),
            records.GroupBy(u => u.Model).OrderBy(g => g.Key).Select(g => Row(g.Key, g)).ToArray(),
            quota is null ? [] : Statuses(quota, now).ToArray());
    }

    private static UsageRow Row(string key, IEnumerable<UsageRecord> records)
    {
        var list = records as IList<UsageRecord> ?? records.ToList();
        return new UsageRow(key, list.Count, list.Count(u => u.Failed), Math.Round(list.Sum(u => u.Seconds), 3),
            Math.Round(list.Sum(u => u.GpuSeconds), 3), Math.Round(list.Sum(u => u.Cost), 3));
    }

    public IEnumerable<QuotaRecord> AllQuotas() => Quotas.FindAll().OrderBy(q => q.Id);

    public QuotaRecord SetQuota(string kind, string name, QuotaRequest request)
    {
        var quota = new QuotaRecord
        {
            Id = $"{kind}:{name}", Kind = kind, Name = name, StepsPerDay = request.StepsPerDay, CpuSecondsPerMonth = request.CpuSecondsPerMonth,
            GpuSecondsPerMonth = request.GpuSecondsPerMonth, StorageBytes = request.StorageBytes,
        };
        Quotas.Upsert(quota);
        return quota;
    }

    public bool DeleteQuota(string kind, string name) => Quotas.Delete($"{kind}:{name}");

    /// <summary>Removes usage records older than <paramref name="before"/> (retention of accounting data).</summary>
    public int DeleteBefore(DateTime before) => Records.DeleteMany(u => u.At < before);
}

/// <summary>Whose quota: a user's, a team's (its models' steps), or that of all anonymous visitors together (name <c>all</c>).</summary>
public static class QuotaKinds
{
    public const string User = "user";
    public const string Team = "team";
    public const string Anonymous = "anonymous";
    public const string AllAnonymous = "all";
}

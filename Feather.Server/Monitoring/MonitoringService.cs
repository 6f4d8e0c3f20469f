using Feather.Server.Runs;
using Feather.Server.Storage;
using LiteDB;
using Microsoft.Extensions.Options;

namespace Feather.Server.Monitoring;

/// <summary>Monitoring settings (section <c>Monitoring</c>).</summary>
public sealed class MonitoringOptions
{
    /// <summary>The first N runs of a version form its reference window.</summary>
    public int ReferenceRuns { get; set; } = 100;
    /// <summary>The fewest observations a day, a reference or a bin must hold to be shown (so no one input shows).</summary>
    public int MinCount { get; set; } = 5;
    /// <summary>The drift score (PSI) above which a feature is highlighted as drifted.</summary>
    public double Threshold { get; set; } = 0.2;
    /// <summary>Distinct categories a feature keeps (the rest count as "other").</summary>
    public int MaxCategories { get; set; } = 20;
}

public sealed class Counts
{
    public long Count { get; set; }
    public double Sum { get; set; }
    public List<long> Hist { get; set; } = [];

    public void Add(int bin, double? value)
    {
        while (Hist.Count <= bin) Hist.Add(0);
        Hist[bin]++;
        Count++;
        if (value is { } v) Sum += v;
    }
}

public sealed class HealthCounts
{
    public int Steps { get; set; }
    public int Failed { get; set; }
    public double Seconds { get; set; }
}

/// <summary>Per model version: which runs form the reference window, and steps, failures and seconds per day.</summary>
public sealed class MonitorVersionRecord
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public int Version { get; set; }
    public List<string> ReferenceRuns { get; set; } = [];
    public Dictionary<string, HealthCounts> Health { get; set; } = [];
}

/// <summary>One feature of one version: its reference histogram and one histogram per day (runs after the reference window).</summary>
public sealed class MonitorFeatureRecord
{
    public string Id { get; set; } = "";
    public string ModelId { get; set; } = "";
    public int Version { get; set; }
    public string Key { get; set; } = "";
    public int Step { get; set; }
    public string Direction { get; set; } = "";
    public string Name { get; set; } = "";
    public string Component { get; set; } = "";
    public string Statistic { get; set; } = "";
    /// <summary>numeric or categorical.</summary>
    public string Kind { get; set; } = "numeric";
    public List<string> Categories { get; set; } = [];
    public Counts Reference { get; set; } = new();
    public Dictionary<string, Counts> Days { get; set; } = [];
}

/// <summary>
/// Keeps drift statistics as steps finish (<see cref="IStepObserver"/>): aggregates only, never an input. The drift
/// score of a feature is the population stability index between the reference window and a day:
/// PSI = Σ (a_i − r_i) · ln(a_i / r_i) over the bins, with each proportion smoothed by half an observation per bin.
/// </summary>
public sealed class MonitoringService : IStepObserver
{
    public const string Method = "psi";
    private readonly FeatherDb _db;
    private readonly MonitoringOptions _options;
    private readonly ILogger<MonitoringService> _logger;
    private readonly object _gate = new();

    public MonitoringService(FeatherDb db, IOptions<MonitoringOptions> options, ILogger<MonitoringService> logger)
    {
        _db = db;
        _options = options.Value;
        _logger = logger;
        FeatureRecords.EnsureIndex(f => f.ModelId);
        VersionRecords.EnsureIndex(v => v.ModelId);
    }

    public MonitoringOptions Options => _options;

    private ILiteCollection<MonitorVersionRecord> VersionRecords => _db.Collection<MonitorVersionRecord>("monitor_versions");
    private ILiteCollection<MonitorFeatureRecord> FeatureRecords => _db.Collection<MonitorFeatureRecord>("monitor_features");

    public void Finished(StepFinished finished)
    {
        var (run, step) = (finished.Run, finished.Step);
        List<Observation> observations = [];
        if (step.Status == StepStatus.Succeeded)
            try { observations = Features.Extract(step.Index, step.ResponsesJson, step.OutputsJson); }
            catch (Exception error) { _logger.LogWarning(error, "Could not read the statistics of step {Step} of run {Run}", step.Index, run.Id); }
        var day = (step.EndedAt ?? DateTime.UtcNow).ToString("yyyy-MM-dd");
        var seconds = finished.Duration.TotalSeconds > 0 ? finished.Duration.TotalSeconds
            : step.StartedAt is { } s && step.EndedAt is { } e ? (e - s).TotalSeconds : 0;
        lock (_gate)
        {
            var versionId = $"{run.ModelId}:{run.Version}";
            var version = VersionRecords.FindById(versionId) ?? new MonitorVersionRecord { Id = versionId, ModelId = run.ModelId, Version = run.Version };
            var reference = version.ReferenceRuns.Contains(run.Id);
            if (!reference && version.ReferenceRuns.Count < _options.ReferenceRuns && step.Status == StepStatus.Succeeded)
            {
                version.ReferenceRuns.Add(run.Id);
                reference = true;
            }
            var health = version.Health.TryGetValue(day, out var h) ? h : version.Health[day] = new HealthCounts();
            health.Steps++;
            if (step.Status != StepStatus.Succeeded) health.Failed++;
            health.Seconds += seconds;
            VersionRecords.Upsert(version);

            foreach (var group in observations.GroupBy(o => o.Key))
            {
                var first = group.First();
                var id = $"{run.ModelId}:{run.Version}:{first.Key}";
                var feature = FeatureRecords.FindById(id) ?? new MonitorFeatureRecord
                {
                    Id = id, ModelId = run.ModelId, Version = run.Version, Key = first.Key, Step = first.Step, Direction = first.Direction,
                    Name = first.Name, Component = first.Component, Statistic = first.Statistic,
                    Kind = first.Value is null ? "categorical" : "numeric",
                };
                var counts = reference ? feature.Reference : feature.Days.TryGetValue(day, out var c) ? c : feature.Days[day] = new Counts();
                foreach (var o in group)
                    counts.Add(o.Value is { } v ? Bins.Of(o.Statistic, v) : CategoryBin(feature, o.Category!), o.Value);
                FeatureRecords.Upsert(feature);
            }
        }
    }

    private int CategoryBin(MonitorFeatureRecord feature, string category)
    {
        var i = feature.Categories.IndexOf(category);
        if (i >= 0) return i;
        if (feature.Categories.Count < _options.MaxCategories)
        {
            feature.Categories.Add(category);
            return feature.Categories.Count - 1;
        }
        if (feature.Categories.Count == _options.MaxCategories) feature.Categories.Add("other");
        return _options.MaxCategories;
    }

    /// <summary>The monitoring view of one version of a model (aggregates at or above the minimum count only).</summary>
    public MonitoringView View(string owner, string model, string modelId, int version)
    {
        var versions = VersionRecords.Find(v => v.ModelId == modelId).Select(v => v.Version).OrderBy(v => v).ToArray();
        var health = VersionRecords.Find(v => v.ModelId == modelId)
            .SelectMany(v => v.Health.Select(d => new HealthDay(d.Key, v.Version, d.Value.Steps, d.Value.Failed,
                d.Value.Steps > 0 ? Math.Round(d.Value.Seconds / d.Value.Steps, 3) : null)))
            .OrderBy(d => d.Day).ThenBy(d => d.Version).ToArray();
        var k = _options.MinCount;
        var features = FeatureRecords.Find(f => f.ModelId == modelId && f.Version == version).OrderBy(f => f.Step)
            .ThenBy(f => f.Direction == "input" ? 0 : 1).ThenBy(f => f.Key, StringComparer.Ordinal).Select(f =>
            {
                var bins = f.Kind == "numeric" ? Bins.Labels(f.Statistic) : f.Categories.ToArray();
                var refShown = f.Reference.Count >= k;
                var days = f.Days.Where(d => d.Value.Count >= k).OrderBy(d => d.Key, StringComparer.Ordinal).Select(d =>
                        new DriftPoint(d.Key, (int)d.Value.Count, f.Kind == "numeric" ? Math.Round(d.Value.Sum / d.Value.Count, 3) : null,
                            Shown(d.Value, bins.Length, k), refShown ? Math.Round(Psi(f.Reference, d.Value, bins.Length), 4) : null))
                    .ToArray();
                var score = days.LastOrDefault()?.Score;
                return new FeatureDrift(f.Key, f.Step, f.Direction, f.Name, f.Component, f.Statistic, f.Kind, bins, (int)f.Reference.Count,
                    refShown ? Shown(f.Reference, bins.Length, k) : [],
                    refShown && f.Kind == "numeric" ? Math.Round(f.Reference.Sum / f.Reference.Count, 3) : null,
                    days, score, score > _options.Threshold);
            }).ToArray();
        return new MonitoringView(owner, model, version, versions, Method, _options.Threshold, k, _options.ReferenceRuns, health, features);
    }

    /// <summary>Proportions per bin; a bin with fewer than <paramref name="k"/> observations shows 0.</summary>
    private static double[] Shown(Counts c, int bins, int k) =>
        Enumerable.Range(0, bins).Select(i => i < c.Hist.Count && c.Hist[i] >= k ? Math.Round(c.Hist[i] / (double)c.Count, 4) : 0).ToArray();

    /// <summary>Population stability index of <paramref name="actual"/> against <paramref name="expected"/>.</summary>
    public static double Psi(Counts expected, Counts actual, int bins)
    {
        double psi = 0;
        for (var i = 0; i < bins; i++)
        {
            var e = ((i < expected.Hist.Count ? expected.Hist[i] : 0) + 0.5) / (expected.Count + 0.5 * bins);
            var a = ((i < actual.Hist.Count ? actual.Hist[i] : 0) + 0.5) / (actual.Count + 0.5 * bins);
            psi += (a - e) * Math.Log(a / e);
        }
        return psi;
    }
}

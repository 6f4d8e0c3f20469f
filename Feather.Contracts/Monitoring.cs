namespace Feather.Contracts;

/// <summary>
/// Drift monitoring of a model (aggregates only): per version and day the number of steps, failures and their mean
/// latency, and per feature of the steps' inputs and outputs a histogram per day, a reference histogram (the first
/// runs of the version) and a drift score (population stability index) against it. A day with fewer than
/// <paramref name="MinCount"/> observations of a feature is not shown, nor are bins below it.
/// </summary>
public sealed record MonitoringView(string Owner, string Model, int Version, int[] Versions, string Method, double Threshold, int MinCount,
    int ReferenceSize, HealthDay[] Health, FeatureDrift[] Features);

/// <summary>Steps of one version on one day (UTC).</summary>
public sealed record HealthDay(string Day, int Version, int Steps, int Failed, double? MeanSeconds);

/// <summary>
/// One feature (<c>step 0 · input images · brightness</c>): the bins of its histogram (<paramref name="Bins"/>: labels of the
/// categories, or of the ranges of a number), the reference distribution and one point per day.
/// </summary>
/// <param name="Score">The drift score of the latest day shown against the reference (null without both).</param>
public sealed record FeatureDrift(string Feature, int Step, string Direction, string Name, string Component, string Statistic,
    string Kind, string[] Bins, int ReferenceCount, double[] Reference, double? ReferenceMean, DriftPoint[] Days, double? Score,
    bool Drifted);

/// <param name="Histogram">Proportions per bin (bins below the minimum count shown as 0).</param>
public sealed record DriftPoint(string Day, int Count, double? Mean, double[] Histogram, double? Score);

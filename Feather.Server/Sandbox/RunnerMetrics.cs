using Prometheus;

namespace Feather.Server.Sandbox;

/// <summary>Prometheus metrics of the runner (exposed by the server's /metrics endpoint, prometheus-net).</summary>
public static class RunnerMetrics
{
    public static readonly Counter Steps = Metrics.CreateCounter(
        "feather_steps_total", "Steps run in sandbox containers, by outcome.", "outcome");

    public static readonly Histogram StepDuration = Metrics.CreateHistogram(
        "feather_step_duration_seconds", "Wall-clock time of a step's container, from start to exit.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.05, 2, 14) });

    public static readonly Gauge QueueLength = Metrics.CreateGauge(
        "feather_step_queue_length", "Steps waiting for a free sandbox slot.");

    public static readonly Counter ImageBuilds = Metrics.CreateCounter(
        "feather_image_builds_total", "Image builds, by kind (environment, weights, version) and outcome (ready, failed, reused).", "kind", "outcome");

    public static readonly Gauge PreparedContainers = Metrics.CreateGauge(
        "feather_prepared_containers", "Containers started ahead of demand, by state (ready, preparing).", "state");

    public static readonly Counter PreparedTakes = Metrics.CreateCounter(
        "feather_prepared_container_takes_total", "Steps that found a prepared container (hit) or had to create one (miss).", "result");

    public static readonly Counter PreparedFailures = Metrics.CreateCounter(
        "feather_prepared_container_failures_total", "Containers that could not be created, attached or started ahead of demand.");

    public static readonly Counter ContainersReaped = Metrics.CreateCounter(
        "feather_containers_reaped_total", "Leftover step containers removed by the reaper.");

    /// <summary>Counts a finished step by outcome and observes its duration; returns it.</summary>
    public static StepExecutionResult Record(StepExecutionResult result)
    {
        Steps.WithLabels(result.Outcome.ToString()).Inc();
        if (result.Duration > TimeSpan.Zero) StepDuration.Observe(result.Duration.TotalSeconds);
        return result;
    }
}

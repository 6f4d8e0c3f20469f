using Feather.Server.Sandbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

public class RunnerOptionsTests
{
    private static RunnerOptions Bind(Dictionary<string, string?> values)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection().AddLogging().AddRunner(config);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<RunnerOptions>>().Value;
    }

    [Fact]
    public void Defaults_are_coded()
    {
        var o = Bind([]);
        Assert.Equal("feather-runner:latest", o.BaseImage);
        Assert.Equal(512, o.Profiles.Low.MemoryMiB);
        Assert.Equal(30, o.Profiles.Low.TimeoutSeconds);
        Assert.Equal(128, o.Profiles.Low.PidsLimit);
        Assert.Equal(2048, o.Profiles.Medium.MemoryMiB);
        Assert.True(o.Profiles.High.Gpu);
        Assert.False(o.Profiles.Medium.Gpu);
        Assert.Equal(Environment.ProcessorCount, o.MaxConcurrentSteps);
        Assert.Equal(100, o.MaxQueuedSteps);
        Assert.Equal(16 * 1024 * 1024, o.MaxOutputBytes);
        Assert.Equal(1024 * 1024, o.MaxLogBytes);
    }

    [Fact]
    public void Configuration_overrides_single_profile_values_and_keeps_the_rest()
    {
        var o = Bind(new() { ["Runner:Profiles:low:MemoryMiB"] = "256", ["Runner:MaxConcurrentSteps"] = "3", ["Runner:WheelhouseUrl"] = "http://wheels.lab/simple" });
        Assert.Equal(256, o.Profiles.Low.MemoryMiB);
        Assert.Equal(30, o.Profiles.Low.TimeoutSeconds);
        Assert.Equal(3, o.MaxConcurrentSteps);
        Assert.Equal("http://wheels.lab/simple", o.WheelhouseUrl);
    }

    [Fact]
    public void Invalid_values_fail_with_messages_naming_the_key()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Bind(new()
        {
            ["Runner:Profiles:Medium:MemoryMiB"] = "0",
            ["Runner:MaxConcurrentSteps"] = "0",
            ["Runner:MaxQueuedSteps"] = "-1",
            ["Runner:Profiles:Low:Cpus"] = "-1",
        }));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:MaxQueuedSteps must be between 0 (refuse steps when every slot is busy) and 100000 (got -1)"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:Profiles:Medium:MemoryMiB must be at least 16 (got 0)"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:MaxConcurrentSteps must be at least 1 (got 0)"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:Profiles:Low:Cpus"));
    }

    [Fact]
    public void Docker_endpoint_is_validated_and_resolved()
    {
        var bad = new DockerOptionsValidator().Validate(null, new DockerOptions { Endpoint = "ftp://x" });
        Assert.True(bad.Failed);
        Assert.Contains("Docker:Endpoint", bad.FailureMessage);
        Assert.Equal(new Uri("tcp://engine.lab:2375"), new DockerOptions { Endpoint = "tcp://engine.lab:2375" }.ResolveEndpoint());
    }

    [Fact]
    public async Task A_bad_runner_docker_or_retention_value_stops_the_start_naming_its_key()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Runner:WarmContainers"] = "65",
            ["Runner:PreparedMemoryBudgetMiB"] = "-1",
            ["Runner:ImageRetention:IntervalMinutes"] = "0",
            ["Docker:ApiVersion"] = "latest",
        }).Build();
        using var host = new HostBuilder().ConfigureServices(s => s.AddRunner(config)).Build();
        var e = await Assert.ThrowsAsync<AggregateException>(() => host.StartAsync());
        var failures = e.InnerExceptions.Cast<OptionsValidationException>().SelectMany(x => x.Failures).ToArray();
        Assert.Contains("Runner:WarmContainers must be between 0 (off) and 64 (got 65).", failures);
        Assert.Contains("Runner:PreparedMemoryBudgetMiB must be 0 (no prepared containers) or more (got -1).", failures);
        Assert.Contains("Runner:ImageRetention:IntervalMinutes must be at least 1 (got 0).", failures);
        Assert.Contains("Docker:ApiVersion must look like 1.41 (got 'latest').", failures);
    }

    [Fact]
    public void Gpu_runtime_is_recognised_from_the_engine_runtimes()
    {
        Assert.False(RunnerCapabilities.HasGpuRuntime(["io.containerd.runc.v2", "runc"]));
        Assert.True(RunnerCapabilities.HasGpuRuntime(["runc", "nvidia"]));
    }
}

using Feather.Server.Blobs;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Sandbox;

/// <summary>AddRunner in a real host, as Program.cs wires it.</summary>
[Collection(DockerCollection.Name)]
public sealed class AddRunnerTests
{
    private static IHost Build(Dictionary<string, string?> config)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(config);
        builder.Services.AddSingleton<IBlobStore, MemoryBlobStore>();
        builder.Services.AddRunner(builder.Configuration);
        return builder.Build();
    }

    [Fact]
    public async Task The_host_starts_probes_the_engine_and_resolves_the_runner_services()
    {
        using var host = Build(new() { ["Runner:InstanceId"] = "test-host-" + Guid.NewGuid().ToString("n")[..8], ["Runner:ReapIntervalSeconds"] = "1" });
        await host.StartAsync();
        Assert.True(host.Services.GetRequiredService<RunnerCapabilities>().Probed);
        Assert.IsType<DockerStepExecutor>(host.Services.GetRequiredService<IStepExecutor>());
        Assert.IsType<DockerImageBuilder>(host.Services.GetRequiredService<IImageBuilder>());
        await host.StopAsync();
    }

    [Fact]
    public async Task A_wrong_option_stops_the_start_with_the_key_named()
    {
        using var host = Build(new() { ["Runner:Profiles:High:TimeoutSeconds"] = "0" });
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Runner:Profiles:High:TimeoutSeconds must be at least 1 (got 0)", ex.Message);

        using var training = Build(new() { ["Runner:Profiles:Low:TrainingTimeoutSeconds"] = "0" });
        var trainingEx = await Assert.ThrowsAsync<OptionsValidationException>(() => training.StartAsync());
        Assert.Contains("Runner:Profiles:Low:TrainingTimeoutSeconds must be at least 1 (got 0)", trainingEx.Message);

        using var docker = Build(new() { ["Docker:Endpoint"] = "ftp://nowhere" });
        var dockerEx = await Assert.ThrowsAsync<OptionsValidationException>(() => docker.StartAsync());
        Assert.Contains("Docker:Endpoint must be an absolute URI", dockerEx.Message);
    }
}

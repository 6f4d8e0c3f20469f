using Feather.Server.Environments;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox.Swarm;

public static class SwarmServiceCollectionExtensions
{
    /// <summary>
    /// Swarm mode (Runner:Mode = swarm), registered after the local runner: steps run as swarm jobs
    /// (<see cref="SwarmStepExecutor"/> becomes the <see cref="IStepExecutor"/>), built images are pushed to the
    /// registry (<see cref="SwarmImageBuilder"/> wraps the local builder), the nodes pull new versions ahead (<see cref="SwarmImageWarmer"/>), GPUs are looked for on the nodes
    /// (<see cref="SwarmGpuProbe"/>) and the <see cref="SwarmReaper"/> removes leftover jobs. Images are still built,
    /// and the local reaper still runs, on the manager's engine.
    /// </summary>
    public static IServiceCollection AddSwarmRunner(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SwarmOptions>().Bind(configuration.GetSection(SwarmOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SwarmOptions>, SwarmOptionsValidator>();
        services.AddSingleton<SwarmClient>();
        services.AddSingleton<SwarmImagePublisher>();
        services.AddSingleton<IGpuProbe, SwarmGpuProbe>();
        services.AddSingleton<SwarmStepExecutor>();
        services.AddSingleton<IStepExecutor>(sp => sp.GetRequiredService<SwarmStepExecutor>());
        services.AddSingleton<SwarmImageWarmer>();
        services.AddSingleton<IImageBuilder>(sp => new SwarmImageBuilder(sp.GetRequiredService<DockerImageBuilder>(),
            sp.GetRequiredService<SwarmImagePublisher>(), sp.GetRequiredService<SwarmClient>(), sp.GetRequiredService<SwarmImageWarmer>()));
        services.AddSingleton<SwarmReaper>();
        services.AddHostedService(sp => sp.GetRequiredService<SwarmReaper>());
        return services;
    }
}

using Feather.Server.Environments;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

public static class RunnerServiceCollectionExtensions
{
    /// <summary>
    /// Registers the runner: options (sections Runner and Docker, validated at start-up), the Docker
    /// engine connection behind <see cref="IContainerEngine"/> (the one seam to the engine), <see cref="IStepExecutor"/>, <see cref="IImageBuilder"/>,
    /// <see cref="RunnerCapabilities"/> (SupportsGpu), the warm container pool, the leftover-container reaper
    /// and the image removal policy (it asks the registered <see cref="IImageKeepList"/> what is needed: the
    /// server's <see cref="VersionImageKeepList"/>, or <see cref="NoImageKeepList"/> on its own, which removes nothing).
    /// </summary>
    public static IServiceCollection AddRunner(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RunnerOptions>().Bind(configuration.GetSection(RunnerOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RunnerOptions>, RunnerOptionsValidator>();
        services.AddOptions<DockerOptions>().Bind(configuration.GetSection(DockerOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DockerOptions>, DockerOptionsValidator>();

        services.AddSingleton<DockerEngine>();
        services.AddSingleton<IContainerEngine, DockerContainerEngine>();
        services.AddSingleton<ContainerTracker>();
        services.AddSingleton<RunnerCapabilities>();
        services.AddSingleton<Publishing.IProfilePolicy, RunnerProfilePolicy>();
        services.TryAddSingleton<IPreparationReports, NoPreparationReports>();
        services.AddSingleton<VersionWeights>();
        services.AddSingleton<WarmContainerPool>();
        services.AddHostedService(sp => sp.GetRequiredService<WarmContainerPool>());
        services.AddSingleton<DockerStepExecutor>();
        services.AddSingleton<IStepExecutor>(sp => sp.GetRequiredService<DockerStepExecutor>());
        services.AddSingleton<DockerImageBuilder>();
        services.AddSingleton<IImageBuilder>(sp => sp.GetRequiredService<DockerImageBuilder>());
        services.AddOptions<ImageRetentionOptions>().Bind(configuration.GetSection(ImageRetentionOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ImageRetentionOptions>, ImageRetentionOptionsValidator>();
        services.TryAddSingleton<IImageKeepList, NoImageKeepList>();
        services.AddSingleton<ImageJanitor>();
        services.AddHostedService(sp => sp.GetRequiredService<ImageJanitor>());
        services.AddSingleton<ContainerReaper>();
        services.AddHostedService(sp => sp.GetRequiredService<ContainerReaper>());
        // Runner:Mode = swarm: steps as one-off swarm jobs, images through the lab's registry (Sandbox/Swarm)
        if (string.Equals(configuration[$"{RunnerOptions.Section}:Mode"], "swarm", StringComparison.OrdinalIgnoreCase))
            Swarm.SwarmServiceCollectionExtensions.AddSwarmRunner(services, configuration);
        return services;
    }
}

using Docker.DotNet;
using Microsoft.Extensions.Options;

namespace Feather.Server.Sandbox;

/// <summary>Where the Docker engine is, configuration section <c>Docker</c>.</summary>
public sealed class DockerOptions
{
    public const string Section = "Docker";

    /// <summary>
    /// The engine's endpoint (unix:///var/run/docker.sock, tcp://host:2375, ...). When not configured,
    /// DOCKER_HOST is used, then the local socket. Nothing in the runner assumes the engine is local.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>Pins the Engine API version (e.g. 1.41); empty: the engine's own.</summary>
    public string? ApiVersion { get; set; }

    public const string DefaultEndpoint = "unix:///var/run/docker.sock";

    /// <summary>The endpoint used: the configured one, else DOCKER_HOST, else the local socket.</summary>
    public Uri ResolveEndpoint()
    {
        var value = !string.IsNullOrWhiteSpace(Endpoint) ? Endpoint
            : Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host
            : DefaultEndpoint;
        return new Uri(value);
    }
}

public sealed class DockerOptionsValidator : IValidateOptions<DockerOptions>
{
    public ValidateOptionsResult Validate(string? name, DockerOptions o)
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(o.Endpoint)
            && (!Uri.TryCreate(o.Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "tcp" or "http" or "https" or "npipe")))
            errors.Add($"Docker:Endpoint must be an absolute URI with scheme unix, tcp, http, https or npipe (got '{o.Endpoint}').");
        if (!string.IsNullOrWhiteSpace(o.ApiVersion) && !Version.TryParse(o.ApiVersion, out _))
            errors.Add($"Docker:ApiVersion must look like 1.41 (got '{o.ApiVersion}').");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// The runner's one connection to the Docker engine. Only the runner's Docker layer (this folder and
/// Environments/DockerImageBuilder) uses <see cref="Client"/>.
/// </summary>
public sealed class DockerEngine : IDisposable
{
    public DockerEngine(IOptions<DockerOptions> options)
    {
        var o = options.Value;
        Endpoint = o.ResolveEndpoint();
        var builder = new DockerClientBuilder().WithEndpoint(Endpoint);
        if (!string.IsNullOrWhiteSpace(o.ApiVersion)) builder = builder.WithApiVersion(Version.Parse(o.ApiVersion));
        Client = builder.Build();
    }

    public Uri Endpoint { get; }

    public DockerClient Client { get; }

    public void Dispose() => Client.Dispose();
}

using Feather.Server.Publishing;

namespace Feather.Server.Sandbox;

/// <summary>Refuses, at publish and at run, the profiles this server's Docker engine cannot run
/// (an unknown profile, or <c>high</c> without a GPU runtime).</summary>
public sealed class RunnerProfilePolicy(RunnerCapabilities capabilities) : IProfilePolicy
{
    public string? Refuse(string profile) => capabilities.CheckProfile(profile);
}

namespace Feather.Server.Publishing;

/// <summary>
/// Says which resource profiles this server can run. The runner registers one (for example refusing
/// <c>high</c> when the Docker engine has no GPU runtime); until then <see cref="AnyProfilePolicy"/>
/// accepts every profile. Consulted at publish (400 on metadata/profile) and when a step is submitted (409).
/// </summary>
public interface IProfilePolicy
{
    /// <summary>Null when <paramref name="profile"/> can run here, else why not (shown to the user).</summary>
    string? Refuse(string profile);
}

/// <summary>The policy of a server without a runner: every profile is accepted (its versions stay pending).</summary>
public sealed class AnyProfilePolicy : IProfilePolicy
{
    public string? Refuse(string profile) => null;
}

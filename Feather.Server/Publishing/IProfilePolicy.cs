namespace Feather.Server.Publishing;

/// <summary>
/// Says which resource profiles this server can run. Optional: the runner registers one (for
/// example refusing <c>high</c> when the Docker engine has no GPU runtime); without it every
/// profile is accepted. Consulted at publish (400 on metadata/profile) and when a step is submitted (409).
/// </summary>
public interface IProfilePolicy
{
    /// <summary>Null when <paramref name="profile"/> can run here, else why not (shown to the user).</summary>
    string? Refuse(string profile);
}

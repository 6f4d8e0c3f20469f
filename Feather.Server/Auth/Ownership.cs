using Feather.Server.Models;

namespace Feather.Server.Auth;

/// <summary>
/// Who may see and change an owned object (a model, a dataset): its owner (a user or a team), the team's
/// members and admins write it; public and unlisted ones everyone reads; private ones exist only for
/// those who write them (others get 404). One set of rules for every kind of object.
/// </summary>
public sealed class Ownership(Accounts accounts)
{
    /// <summary>Owner, team member or admin.</summary>
    public bool CanWrite(string owner, Caller caller) =>
        !caller.IsAnonymous && (caller.IsAdmin || owner == caller.Username || accounts.IsMember(owner, caller.Username!));

    public bool CanRead(string owner, string visibility, Caller caller) =>
        visibility is Visibility.Public or Visibility.Unlisted || CanWrite(owner, caller);

    /// <summary>Shown in a catalogue: public ones, and the caller's own and their teams' (unlisted ones only to those).</summary>
    public bool IsListed(string owner, string visibility, Caller caller) =>
        visibility == Visibility.Public || CanWrite(owner, caller);

    /// <summary>Who may own a new object: the caller, a team of the caller, or anyone for an admin.</summary>
    public bool CanPublishAs(string owner, Caller caller) =>
        !caller.IsAnonymous && (owner == caller.Username || accounts.IsMember(owner, caller.Username!) ||
                                (caller.IsAdmin && accounts.NameTaken(owner)));
}

using System.Collections.Concurrent;

namespace Feather.Server.Sandbox;

/// <summary>
/// The names of the containers this process is running steps in. A name is added before the
/// container is created and removed after it is gone, so the reaper never removes a live step.
/// </summary>
public sealed class ContainerTracker
{
    private readonly ConcurrentDictionary<string, byte> _names = new();

    public void Add(string name) => _names[name] = 0;

    public void Remove(string name) => _names.TryRemove(name, out _);

    /// <summary>
    /// True for a tracked name, and for the container of a tracked swarm step on this node (named
    /// &lt;service&gt;.&lt;slot or node&gt;.&lt;task&gt; by the swarm), so the local reaper leaves a running swarm step alone.
    /// </summary>
    public bool Contains(string name) =>
        _names.ContainsKey(name) || (name.IndexOf('.') is var dot and > 0 && _names.ContainsKey(name[..dot]));

    public int Count => _names.Count;
}

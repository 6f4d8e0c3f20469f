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

    public bool Contains(string name) => _names.ContainsKey(name);

    public int Count => _names.Count;
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Feather.Cli.Publishing;

/// <summary>
/// The SHA-256 of large bundle files, remembered between publishes by path, size and modification time (to 100 ns),
/// so a version that changes only code does not read gigabytes of unchanged weights again. Kept in
/// <c>$XDG_CACHE_HOME/feather/hashes.json</c> (at most <see cref="MaxEntries"/> files, the least recently used
/// dropped), written atomically. A file rewritten with the same size and its old modification time restored would be
/// taken for the old one: <c>feather publish --rehash</c> ignores the cache. The server checks every uploaded byte
/// against its hash, so a wrong entry can never store wrong bytes under a hash.
/// </summary>
public sealed class HashCache
{
    /// <summary>Smaller files are hashed every time (it costs less than remembering them).</summary>
    public const long MinBytes = 1024 * 1024;
    public const int MaxEntries = 10_000;

    private readonly string? _path;
    private readonly Dictionary<string, Entry> _entries;
    private readonly object _gate = new();
    private bool _changed;

    public sealed record Entry(long Size, long MTime, string Sha256, long Used);

    private HashCache(string? path, Dictionary<string, Entry> entries)
    {
        _path = path;
        _entries = entries;
    }

    /// <summary>A cache that remembers nothing (--rehash, tests).</summary>
    public static HashCache None() => new(null, new Dictionary<string, Entry>(StringComparer.Ordinal));

    /// <summary>The cache file at <paramref name="path"/>; an unreadable or corrupt file is an empty cache.</summary>
    public static HashCache Load(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var entries = JsonSerializer.Deserialize(stream, HashCacheJson.Default.DictionaryStringEntry);
            if (entries is not null) return new HashCache(path, new Dictionary<string, Entry>(entries, StringComparer.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { }
        return new HashCache(path, new Dictionary<string, Entry>(StringComparer.Ordinal));
    }

    /// <summary>The hash of <paramref name="fullPath"/> if it was hashed before with the same size and modification time.</summary>
    public string? Find(string fullPath, long size, DateTime modifiedUtc)
    {
        if (_path is null || size < MinBytes) return null;
        lock (_gate)
        {
            if (!_entries.TryGetValue(fullPath, out var e) || e.Size != size || e.MTime != modifiedUtc.Ticks) return null;
            _entries[fullPath] = e with { Used = DateTime.UtcNow.Ticks };
            _changed = true;
            return e.Sha256;
        }
    }

    public void Remember(string fullPath, long size, DateTime modifiedUtc, string sha256)
    {
        if (_path is null || size < MinBytes) return;
        lock (_gate)
        {
            _entries[fullPath] = new Entry(size, modifiedUtc.Ticks, sha256, DateTime.UtcNow.Ticks);
            _changed = true;
        }
    }

    /// <summary>Writes the cache if it changed (temporary file, then rename); a cache that cannot be written is skipped.</summary>
    public void Save()
    {
        if (_path is null || !_changed) return;
        lock (_gate)
        {
            var kept = _entries.OrderByDescending(e => e.Value.Used).Take(MaxEntries).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            var temp = $"{_path}.{Environment.ProcessId}.tmp";
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
                using (var stream = File.Create(temp))
                    JsonSerializer.Serialize(stream, kept, HashCacheJson.Default.DictionaryStringEntry);
                File.Move(temp, _path, overwrite: true);
                _changed = false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }
}

[JsonSerializable(typeof(Dictionary<string, HashCache.Entry>))]
internal sealed partial class HashCacheJson : JsonSerializerContext;

using System.Text;

namespace Feather.Server.Environments;

/// <summary>
/// A bounded build log: keeps the first and the last half of <c>maxBytes</c> (UTF-8) and replaces the
/// lines between with one marker line saying how much was left out. Thread-safe.
/// </summary>
public sealed class BuildLog(int maxBytes)
{
    private readonly int _half = Math.Max(1, maxBytes / 2);
    private readonly StringBuilder _head = new();
    private readonly Queue<string> _tail = new();
    private long _headBytes;
    private long _tailBytes;
    private long _droppedBytes;
    private long _droppedLines;
    private bool _headFull;

    public const string MarkerStart = "[feather: ";

    /// <summary>Appends one line (a newline is added).</summary>
    public void Append(string line)
    {
        line = Clip(line);
        var size = Encoding.UTF8.GetByteCount(line) + 1;
        lock (_head)
        {
            if (!_headFull && _headBytes + size <= _half)
            {
                _head.Append(line).Append('\n');
                _headBytes += size;
                return;
            }
            _headFull = true;
            _tail.Enqueue(line);
            _tailBytes += size;
            while (_tailBytes > _half && _tail.Count > 1)
            {
                var dropped = Encoding.UTF8.GetByteCount(_tail.Dequeue()) + 1;
                _tailBytes -= dropped;
                _droppedBytes += dropped;
                _droppedLines++;
            }
        }
    }

    /// <summary>True once lines were left out.</summary>
    public bool Truncated { get { lock (_head) return _droppedLines > 0; } }

    public override string ToString()
    {
        lock (_head)
        {
            var sb = new StringBuilder(_head.Length + (int)Math.Min(_tailBytes, int.MaxValue / 2) + 128).Append(_head);
            if (_droppedLines > 0)
                sb.Append(MarkerStart).Append(_droppedLines).Append(" line(s), ").Append(_droppedBytes)
                  .Append(" bytes of the build log left out; the log keeps its first and last ").Append((_half / 1024.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture))
                  .Append(" KiB (Runner:MaxBuildLogBytes)]\n");
            foreach (var line in _tail) sb.Append(line).Append('\n');
            return sb.ToString();
        }
    }

    /// <summary>A single line longer than half the limit keeps its start.</summary>
    private string Clip(string line)
    {
        if (line.Length <= _half / 4 || Encoding.UTF8.GetByteCount(line) <= _half) return line;
        var keep = _half / 4; // at most 4 bytes a char in UTF-8
        return line[..keep] + " …[line cut]";
    }
}

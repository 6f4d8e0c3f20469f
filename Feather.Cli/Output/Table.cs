namespace Feather.Cli.Output;

/// <summary>A plain text table: a header row, columns padded to their widest cell, no trailing spaces.</summary>
public static class Table
{
    public static void Write(TextWriter writer, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => i < r.Count ? r[i].Length : 0))).ToArray();
        WriteRow(writer, headers, widths);
        foreach (var row in all) WriteRow(writer, row, widths);
    }

    private static void WriteRow(TextWriter writer, IReadOnlyList<string> cells, int[] widths)
    {
        var padded = widths.Select((w, i) => i < cells.Count ? Clean(cells[i]) : "").Select((c, i) => i == widths.Length - 1 ? c : c.PadRight(widths[i]));
        writer.WriteLine(string.Join("  ", padded).TrimEnd());
    }

    private static string Clean(string cell) => TerminalText.Safe(cell).Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');
}

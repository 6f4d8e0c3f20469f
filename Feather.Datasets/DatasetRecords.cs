using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sylvan.Data.Csv;

namespace Feather.Datasets;

/// <summary>What is wrong with a record: its line in the records file and the field, when one is to blame.</summary>
public sealed record RecordProblem(long Line, string? Field, string Message)
{
    public override string ToString() => Field is null ? $"line {Line}: {Message}" : $"line {Line}, field '{Field}': {Message}";
}

/// <summary>One record as read: its line, its values by field name (typed), and what is wrong with it.</summary>
public sealed record DatasetRecord(long Line, JsonObject Values, IReadOnlyList<RecordProblem> Problems)
{
    /// <summary>The record without its label fields: all that a model's container may be given.</summary>
    public JsonObject Inputs(DatasetManifest manifest)
    {
        var inputs = new JsonObject();
        foreach (var field in manifest.Fields.Where(f => !f.IsLabel))
            if (Values.TryGetPropertyValue(field.Name, out var value)) inputs[field.Name] = value?.DeepClone();
        return inputs;
    }
}

/// <summary>The outcome of reading a records file once: the count, a few examples, the first problems.</summary>
public sealed class RecordScan
{
    public long Count { get; set; }
    public long ProblemCount { get; set; }
    public List<RecordProblem> Problems { get; } = [];
    public List<JsonObject> Examples { get; } = [];
    /// <summary>The distinct file paths the records point at (only when asked for).</summary>
    public HashSet<string> Files { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Reads a dataset's records file as a stream, one record at a time (a CSV with a header row, or JSON Lines),
/// and checks each record against the manifest's fields. Memory does not grow with the number of records.
/// </summary>
public static class DatasetRecords
{
    /// <summary>The longest record (one CSV record or JSON line) read, so memory stays bounded whatever the file holds.</summary>
    public const int MaxRecordChars = 4 * 1024 * 1024;

    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"];

    /// <summary>
    /// Reads every record once: counts them, keeps the first <paramref name="examples"/> and the first
    /// <paramref name="maxProblems"/> problems. <paramref name="fileProblem"/> judges each file path a record points
    /// at (null when the file is there).
    /// </summary>
    public static async Task<RecordScan> ScanAsync(Stream records, DatasetManifest manifest, Func<string, string?> fileProblem,
        int examples = 8, int maxProblems = 20, bool collectFiles = false, CancellationToken ct = default)
    {
        var scan = new RecordScan();
        await foreach (var record in ReadAsync(records, manifest, fileProblem, ct))
        {
            if (record.Problems.Count > 0)
            {
                scan.ProblemCount += record.Problems.Count;
                foreach (var p in record.Problems)
                    if (scan.Problems.Count < maxProblems) scan.Problems.Add(p);
                if (record.Line == 1 && record.Values.Count == 0) continue; // a header problem, not a record
            }
            scan.Count++;
            if (scan.Examples.Count < examples && record.Problems.Count == 0) scan.Examples.Add(record.Values);
            if (collectFiles)
                foreach (var field in manifest.Fields.Where(f => f.IsFile))
                    if (record.Values[field.Name] is JsonValue v && v.TryGetValue<string>(out var path)) scan.Files.Add(path);
        }
        if (scan.Count == 0 && scan.ProblemCount == 0)
        {
            scan.ProblemCount++;
            scan.Problems.Add(new RecordProblem(1, null, $"{manifest.Records} holds no records"));
        }
        return scan;
    }

    /// <summary>Every record of the file in order, typed and checked (a trusted evaluator streams these).</summary>
    public static IAsyncEnumerable<DatasetRecord> ReadAsync(Stream records, DatasetManifest manifest, Func<string, string?> fileProblem, CancellationToken ct = default) =>
        manifest.RecordsFormat == "jsonl" ? ReadJsonLinesAsync(records, manifest, fileProblem, ct) : ReadCsvAsync(records, manifest, fileProblem, ct);

    private static async IAsyncEnumerable<DatasetRecord> ReadCsvAsync(Stream stream, DatasetManifest manifest, Func<string, string?> fileProblem,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16, leaveOpen: true);
        CsvDataReader? opened = null;
        try { opened = await CsvDataReader.CreateAsync(reader, new CsvDataReaderOptions { Delimiter = ',', HasHeaders = true, MaxBufferSize = MaxRecordChars }, ct); }
        catch (CsvMissingHeadersException) { }
        await using var csv = opened;
        var header = csv is null ? [] : Enumerable.Range(0, csv.FieldCount).Select(csv.GetName).ToArray();
        if (csv is null || header.Length == 0 || header.All(string.IsNullOrEmpty))
        {
            yield return new DatasetRecord(1, [], [new RecordProblem(1, null, $"{manifest.Records} is empty: the first line must name the fields")]);
            yield break;
        }
        var headerProblems = new List<RecordProblem>();
        foreach (var field in manifest.Fields.Where(f => !header.Contains(f.Name, StringComparer.Ordinal)))
            headerProblems.Add(new RecordProblem(1, field.Name, "the header has no column for this declared field"));
        foreach (var column in header.Where(c => !manifest.Fields.Any(f => f.Name == c)))
            headerProblems.Add(new RecordProblem(1, column, "this column is not a declared field; declare it in dataset.json or remove it"));
        if (headerProblems.Count > 0)
        {
            yield return new DatasetRecord(1, [], headerProblems);
            yield break;
        }
        var columns = manifest.Fields.Select(f => Array.IndexOf(header, f.Name)).ToArray();
        long line = 1; // the header is line 1; a record whose quoted text spans lines counts as one
        while (true)
        {
            string? malformed = null;
            var more = false;
            try { more = await csv.ReadAsync(ct); }
            catch (Exception e) when (e is CsvFormatException or CsvInvalidCharacterException or CsvRecordTooLargeException) { malformed = e.Message; }
            line++;
            if (malformed is not null)
            {
                yield return new DatasetRecord(line, [], [new RecordProblem(line, null, $"not valid CSV ({malformed}); reading stopped here")]);
                yield break;
            }
            if (!more) yield break;
            var values = new JsonObject();
            var problems = new List<RecordProblem>();
            if (csv.RowFieldCount != header.Length)
                problems.Add(new RecordProblem(line, null, $"the line has {csv.RowFieldCount} values; the header has {header.Length} columns"));
            for (var i = 0; i < manifest.Fields.Length; i++)
            {
                var field = manifest.Fields[i];
                var text = columns[i] < csv.RowFieldCount ? csv.GetString(columns[i]) : null;
                if (text is null) { problems.Add(new RecordProblem(line, field.Name, "missing")); continue; }
                var (value, problem) = FromText(field, text);
                if (problem is null && field.IsFile) problem = FileProblem(field, text, fileProblem);
                if (problem is not null) problems.Add(new RecordProblem(line, field.Name, problem));
                else values[field.Name] = value;
            }
            yield return new DatasetRecord(line, values, problems);
        }
    }

    private static async IAsyncEnumerable<DatasetRecord> ReadJsonLinesAsync(Stream stream, DatasetManifest manifest, Func<string, string?> fileProblem,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16, leaveOpen: true);
        var lines = new BoundedLines(reader, MaxRecordChars);
        long line = 0;
        while (await lines.NextAsync(ct) is { } text)
        {
            line++;
            if (lines.TooLong)
            {
                yield return new DatasetRecord(line, [], [new RecordProblem(line, null, $"the line is longer than {MaxRecordChars} characters; reading stopped here")]);
                yield break;
            }
            if (string.IsNullOrWhiteSpace(text)) continue;
            var values = new JsonObject();
            var problems = new List<RecordProblem>();
            JsonNode? node = null;
            string? invalid = null;
            try { node = JsonNode.Parse(text); }
            catch (JsonException e) { invalid = e.Message; }
            if (invalid is not null)
            {
                yield return new DatasetRecord(line, values, [new RecordProblem(line, null, $"not valid JSON ({invalid})")]);
                continue;
            }
            if (node is not JsonObject record)
            {
                yield return new DatasetRecord(line, values, [new RecordProblem(line, null, "a record must be a JSON object")]);
                continue;
            }
            foreach (var field in manifest.Fields)
            {
                if (!record.TryGetPropertyValue(field.Name, out var raw) || raw is null)
                {
                    problems.Add(new RecordProblem(line, field.Name, "missing"));
                    continue;
                }
                var (value, problem) = FromJson(field, raw);
                if (problem is null && field.IsFile) problem = FileProblem(field, value!.GetValue<string>(), fileProblem);
                if (problem is not null) problems.Add(new RecordProblem(line, field.Name, problem));
                else values[field.Name] = value;
            }
            foreach (var (key, _) in record.Where(p => !manifest.Fields.Any(f => f.Name == p.Key)))
                problems.Add(new RecordProblem(line, key, "this key is not a declared field; declare it in dataset.json or remove it"));
            yield return new DatasetRecord(line, values, problems);
        }
    }

    private static (JsonNode? Value, string? Problem) FromText(DatasetField field, string text)
    {
        switch (field.Type)
        {
            case FieldTypes.Text:
                return (JsonValue.Create(text), null);
            case FieldTypes.Number:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                    ? (JsonValue.Create(d), null) : (null, $"'{Short(text)}' is not a number");
            case FieldTypes.Integer:
                return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                    ? (JsonValue.Create(n), null) : (null, $"'{Short(text)}' is not an integer");
            case FieldTypes.Label:
                return Label(field, text);
            default:
                return text.Length == 0 ? (null, "is empty; give the file's path relative to the dataset directory") : (JsonValue.Create(text), null);
        }
    }

    private static (JsonNode? Value, string? Problem) FromJson(DatasetField field, JsonNode raw)
    {
        var kind = raw.GetValueKind();
        switch (field.Type)
        {
            case FieldTypes.Text:
                return kind == JsonValueKind.String ? (JsonValue.Create(raw.GetValue<string>()), null) : (null, "must be a string");
            case FieldTypes.Number:
                return kind == JsonValueKind.Number ? (JsonValue.Create(raw.GetValue<double>()), null) : (null, "must be a number");
            case FieldTypes.Integer:
                return kind == JsonValueKind.Number && raw.AsValue().TryGetValue<long>(out var n) ? (JsonValue.Create(n), null) : (null, "must be an integer");
            case FieldTypes.Label:
                if (kind == JsonValueKind.String) return Label(field, raw.GetValue<string>());
                if (kind == JsonValueKind.Number && raw.AsValue().TryGetValue<long>(out var l)) return Label(field, l.ToString(CultureInfo.InvariantCulture));
                return (null, "must be a string or an integer");
            default:
                return kind == JsonValueKind.String && raw.GetValue<string>().Length > 0
                    ? (JsonValue.Create(raw.GetValue<string>()), null) : (null, "must be the file's path relative to the dataset directory");
        }
    }

    /// <summary>A label is kept as a string (the class name); empty is missing, and it must be one of the classes when listed.</summary>
    private static (JsonNode? Value, string? Problem) Label(DatasetField field, string text)
    {
        if (text.Length == 0) return (null, "the label is empty");
        if (field.Classes is { } classes && !classes.Contains(text, StringComparer.Ordinal))
            return (null, $"'{Short(text)}' is not one of the declared classes ({string.Join(", ", classes.Take(20))}{(classes.Length > 20 ? ", ..." : "")})");
        return (JsonValue.Create(text), null);
    }

    private static string? FileProblem(DatasetField field, string path, Func<string, string?> fileProblem)
    {
        if (field.Type == FieldTypes.Image && !ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant()))
            return $"'{Short(path)}' is not an image file ({string.Join(", ", ImageExtensions)})";
        return fileProblem(path) is { } problem ? $"'{Short(path)}': {problem}" : null;
    }

    private static string Short(string text) => text.Length <= 80 ? text : text[..77] + "...";

    /// <summary>Lines of a text stream, each at most <c>max</c> characters: a longer one sets <see cref="TooLong"/> and is not kept.</summary>
    private sealed class BoundedLines(StreamReader reader, int max)
    {
        private readonly char[] _buffer = new char[1 << 16];
        private readonly StringBuilder _line = new();
        private int _pos, _len;
        private bool _end;

        public bool TooLong { get; private set; }

        public async Task<string?> NextAsync(CancellationToken ct)
        {
            _line.Clear();
            while (true)
            {
                if (_pos == _len)
                {
                    if (_end) return _line.Length > 0 ? Finish() : null;
                    _len = await reader.ReadAsync(_buffer.AsMemory(), ct);
                    _pos = 0;
                    if (_len == 0) { _end = true; continue; }
                }
                var newline = Array.IndexOf(_buffer, '\n', _pos, _len - _pos);
                var end = newline < 0 ? _len : newline;
                if (_line.Length + (end - _pos) > max)
                {
                    TooLong = true;
                    return "";
                }
                _line.Append(_buffer, _pos, end - _pos);
                _pos = newline < 0 ? _len : newline + 1;
                if (newline >= 0) return Finish();
            }
        }

        private string Finish()
        {
            if (_line.Length > 0 && _line[^1] == '\r') _line.Length--;
            return _line.ToString();
        }
    }
}

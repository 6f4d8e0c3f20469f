using System.Text.Json;
using Feather.Datasets;
using Feather.Server.Blobs;
using Feather.Server.Datasets;
using Feather.Server.Storage;
using LiteDB;

namespace Feather.Server.Monitoring;

/// <summary>The statistics of one input field of a dataset version (an image or a text field), binned like a run's.</summary>
public sealed class DatasetFieldStats
{
    public string Name { get; set; } = "";
    /// <summary><c>image</c> or <c>text</c>.</summary>
    public string Type { get; set; } = "";
    public Dictionary<string, Counts> Stats { get; set; } = [];
}

/// <summary>
/// A dataset version read once as a drift reference (dataset versions are immutable, so it is kept, keyed by the
/// version): the statistics of its image and text input fields. Label fields are never read.
/// </summary>
public sealed class DatasetReferenceRecord
{
    /// <summary>The dataset version's id.</summary>
    public string Id { get; set; } = "";
    public long Records { get; set; }
    public List<DatasetFieldStats> Fields { get; set; } = [];
}

/// <summary>
/// Reads a dataset of the model's task as the reference window of the drift score: each image input field gives
/// width, height, brightness and channel means, each text input field length and the shares of letters and digits,
/// computed with the same code and bins as a step's inputs (<see cref="Features"/>).
/// </summary>
public sealed class DatasetReferences(FeatherDb db, IBlobStore blobs, MonitoringOptions options)
{
    private readonly SemaphoreSlim _reading = new(1, 1);

    private ILiteCollection<DatasetReferenceRecord> Cache => db.Collection<DatasetReferenceRecord>("monitor_dataset_refs");

    /// <summary>The statistics of <paramref name="version"/>, read now (at most <c>Monitoring:MaxReferenceRecords</c> records) or kept.</summary>
    public async Task<DatasetReferenceRecord> ReadAsync(DatasetVersionRecord version, CancellationToken ct)
    {
        if (Cache.FindById(version.Id) is { } kept) return kept;
        await _reading.WaitAsync(ct); // one dataset read at a time: a reference is read once, then kept
        try
        {
            if (Cache.FindById(version.Id) is { } read) return read;
            using var manifestDoc = JsonDocument.Parse(version.ManifestJson);
            var manifest = DatasetManifest.Parse(manifestDoc.RootElement, _ => null).Manifest
                           ?? throw new InvalidOperationException("the stored manifest does not parse");
            var fields = manifest.Fields.Where(f => !f.IsLabel && f.Type is FieldTypes.Image or FieldTypes.Text)
                .Select(f => new DatasetFieldStats { Name = f.Name, Type = f.Type }).ToList();
            var files = version.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var record = new DatasetReferenceRecord { Id = version.Id, Fields = fields };
            if (fields.Count > 0)
            {
                await using var stream = await blobs.OpenReadAsync(files[version.Records].Sha256, ct);
                await foreach (var r in DatasetRecords.ReadAsync(stream, manifest, p => files.ContainsKey(p) ? null : "no such file", ct))
                {
                    if (record.Records >= options.MaxReferenceRecords) break;
                    if (r.Problems.Count > 0) continue;
                    record.Records++;
                    foreach (var field in fields)
                    {
                        if (!r.Values.TryGetPropertyValue(field.Name, out var node) || node is null) continue;
                        void Number(string statistic, double value)
                        {
                            var counts = field.Stats.TryGetValue(statistic, out var c) ? c : field.Stats[statistic] = new Counts();
                            counts.Add(Bins.Of(statistic, value), value);
                        }
                        if (field.Type == FieldTypes.Text)
                            Features.Text(node.GetValue<string>(), Number);
                        else if (files.TryGetValue(node.GetValue<string>(), out var file))
                        {
                            await using var blob = await blobs.OpenReadAsync(file.Sha256, ct);
                            using var buffer = new MemoryStream();
                            await blob.CopyToAsync(buffer, ct);
                            Features.Image(buffer.ToArray(), Number);
                        }
                    }
                }
            }
            Cache.Upsert(record);
            return record;
        }
        finally
        {
            _reading.Release();
        }
    }

    /// <summary>Statistics of images and of texts: which a dataset field of each type can stand for.</summary>
    public static string? TypeOf(string statistic) => statistic switch
    {
        "width" or "height" or "brightness" or "red" or "green" or "blue" => FieldTypes.Image,
        "length" or "letters" or "digits" => FieldTypes.Text,
        _ => null,
    };

    /// <summary>
    /// The dataset's counts for a step input's statistic: the field of the same name, else the first field of the same
    /// type (an image field for an image statistic, a text field for a text statistic); null when the dataset has none.
    /// </summary>
    public static (string Field, Counts Counts)? For(DatasetReferenceRecord reference, string direction, string input, string statistic)
    {
        if (direction != "input" || TypeOf(statistic) is not { } type) return null;
        var field = reference.Fields.FirstOrDefault(f => f.Type == type && f.Name == input) ?? reference.Fields.FirstOrDefault(f => f.Type == type);
        return field is not null && field.Stats.TryGetValue(statistic, out var counts) ? (field.Name, counts) : null;
    }
}

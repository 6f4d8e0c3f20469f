using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Datasets;
using Feather.Server.Auth;
using Feather.Server.Blobs;
using Feather.Server.Common;
using Feather.Server.Configuration;
using Feather.Server.Models;
using Feather.Server.Publishing;
using Feather.Server.Storage;

namespace Feather.Server.Datasets;

/// <summary>
/// Publishing a dataset version with the models' protocol and upload endpoint (<see cref="PublishService"/>'s
/// shared parts): start (manifest + file list → signed upload URLs for what is not yet held), the uploads,
/// complete (every file there; the records file read once, streaming, and every record checked; then one
/// immutable version recorded through <see cref="DatasetStore"/>).
/// </summary>
public sealed class DatasetPublisher(
    FeatherOptions options, PublishService publishing, DatasetStore datasets, ModelStore models, Accounts accounts,
    FeatherDb db, FileSystemBlobStore files, Common.FeatherEvents events)
{
    /// <summary>Records kept for the preview of a version.</summary>
    public const int ExampleCount = 8;
    /// <summary>Problems named in a refused publish (the count says how many there were).</summary>
    public const int MaxProblems = 20;

    public static readonly string[] FileKinds = ["records", "file"];

    public async Task<PublishResult<DatasetPublishStarted>> StartAsync(StartDatasetPublishRequest request, Caller caller, string requestBaseUrl, CancellationToken ct)
    {
        if (request.Manifest.ValueKind == JsonValueKind.Undefined)
            return PublishResult<DatasetPublishStarted>.Invalid("the body needs 'manifest' (the dataset.json) and 'files'");
        var (manifest, errors) = DatasetManifest.Parse(request.Manifest, ManifestPath.Problem);
        if (manifest is null)
            return PublishResult<DatasetPublishStarted>.Invalid($"the dataset manifest is not valid ({errors.Count} problem(s))",
                errors.ToDictionary(e => $"manifest/{e.Key}", e => e.Value));

        var list = request.Files ?? [];
        if (publishing.CheckFiles(list, FileKinds) is { } refused) return refused.As<DatasetPublishStarted>();
        var recordsFile = list.Where(f => f.Path == manifest.Records).ToArray();
        if (recordsFile.Length == 0)
            return PublishResult<DatasetPublishStarted>.Invalid($"the manifest's records file '{manifest.Records}' is not among 'files'");
        if (recordsFile[0].Kind != "records" || list.Count(f => f.Kind == "records") != 1)
            return PublishResult<DatasetPublishStarted>.Invalid($"exactly one file, '{manifest.Records}', must have kind 'records'; the others are 'file'");

        if (request.Visibility is not null && !Visibility.All.Contains(request.Visibility))
            return PublishResult<DatasetPublishStarted>.Invalid($"'visibility' must be one of {string.Join(", ", Visibility.All)}");
        var owner = request.Owner ?? caller.Username!;
        if (!accounts.NameTaken(owner)) return PublishResult<DatasetPublishStarted>.NotFound($"no user or team named '{owner}'");
        if (!datasets.CanPublishAs(owner, caller))
            return PublishResult<DatasetPublishStarted>.Forbidden($"you cannot publish as '{owner}': publish as yourself or as a team you belong to");
        if (datasets.Find(owner, manifest.Name) is { } existing && !datasets.CanWrite(existing, caller))
            return PublishResult<DatasetPublishStarted>.Forbidden($"you cannot publish new versions of the dataset {owner}/{manifest.Name}");

        var now = DateTime.UtcNow;
        var record = new PublishRecord
        {
            Id = Ids.New(), Kind = PublishKinds.Dataset, Owner = owner, Name = manifest.Name, Publisher = caller.Username!,
            MetadataJson = request.Manifest.GetRawText(), Notes = request.Notes, Visibility = request.Visibility,
            CreatedAt = now, ExpiresAt = now.AddSeconds(options.PublishTtlSeconds),
            Files = list.Select(f => new VersionFileRecord { Path = f.Path, Sha256 = f.Sha256!.ToLowerInvariant(), Size = f.Size, Kind = f.Kind }).ToList(),
        };
        var (uploads, stored) = await publishing.OpenAsync(record, sha => Holds(sha, caller), requestBaseUrl, ct);
        return PublishResult<DatasetPublishStarted>.Done(new DatasetPublishStarted(record.Id, owner, manifest.Name, record.ExpiresAt, uploads, stored));
    }

    public async Task<PublishResult<DatasetPublishCompleted>> CompleteAsync(string publishId, Caller caller, CancellationToken ct)
    {
        var publish = db.Publishes.FindById(publishId);
        if (publish is null || publish.Kind != PublishKinds.Dataset || (publish.Publisher != caller.Username && !caller.IsAdmin))
            return PublishResult<DatasetPublishCompleted>.NotFound($"no open dataset publish '{publishId}' (it may have completed or expired)");
        if (publish.ExpiresAt < DateTime.UtcNow)
            return PublishResult<DatasetPublishCompleted>.Gone("the publish has expired; start it again");
        var missing = await publishing.MissingAsync(publish, sha => Holds(sha, caller), ct);
        if (missing.Count > 0)
            return PublishResult<DatasetPublishCompleted>.Conflict($"{missing.Count} file(s) have not been uploaded: {string.Join(", ", missing)}",
                new Dictionary<string, object?> { ["missing"] = missing });

        using var manifestJson = JsonDocument.Parse(publish.MetadataJson);
        var manifest = DatasetManifest.Parse(manifestJson.RootElement, ManifestPath.Problem).Manifest!;
        var scan = await ScanAsync(publish, manifest, ct);
        if (scan.ProblemCount > 0)
        {
            // the files are wrong: this publish cannot complete, a fixed one starts again
            files.DeleteStaging(publish.Id);
            db.Publishes.Delete(publish.Id);
            var problems = scan.Problems.Select(p => p.ToString()).ToArray();
            return PublishResult<DatasetPublishCompleted>.Invalid(
                $"{manifest.Records}: {scan.ProblemCount} problem(s) in the records; the first: {problems[0]}",
                new Dictionary<string, string[]> { [$"records/{manifest.Records}"] = problems });
        }

        var examples = new JsonArray([.. scan.Examples.Select(Preview)]).ToJsonString();
        string? publishedId = null;
        var finished = await publishing.FinishAsync(publish, sha => Holds(sha, caller), () =>
        {
            var (dataset, version) = db.InTransaction(() =>
            {
                var recorded = datasets.AddVersion(new NewDatasetVersion(publish.Owner, publish.Name, publish.Visibility, publish.Publisher,
                    publish.Notes, publish.MetadataJson, manifest, publish.Files, scan.Count, examples));
                db.Publishes.Delete(publish.Id);
                return recorded;
            });
            publishedId = dataset.Id;
            return PublishResult<DatasetPublishCompleted>.Done(new DatasetPublishCompleted(dataset.Owner, dataset.Name, version.Number,
                version.RecordCount, Routes.Expand(Routes.DatasetVersion, dataset.Owner, dataset.Name, version.Number)));
        }, ct);
        if (finished.Status == PublishStatus.Done && publishedId is not null)
            events.RaiseDatasetVersionPublished(publishedId, finished.Value!.Version);
        return finished;
    }

    /// <summary>Reads the records file once, as a stream (staged, or already in the blob store), checking every record.</summary>
    private async Task<RecordScan> ScanAsync(PublishRecord publish, DatasetManifest manifest, CancellationToken ct)
    {
        var byPath = publish.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var records = byPath[manifest.Records];
        await using var stream = files.IsStaged(publish.Id, records.Sha256)
            ? files.OpenStaged(publish.Id, records.Sha256)
            : await files.OpenReadAsync(records.Sha256, ct);
        return await DatasetRecords.ScanAsync(stream, manifest,
            path => ManifestPath.Problem(path) is { } problem ? problem
                : byPath.ContainsKey(path) ? null : "no such file among the dataset's files",
            ExampleCount, MaxProblems, collectFiles: false, ct);
    }

    /// <summary>Longest text kept in an example record (the preview; the records file keeps the whole text).</summary>
    public const int MaxExampleText = 1000;

    /// <summary>An example record for the preview, with long texts cut to <see cref="MaxExampleText"/> characters.</summary>
    private static JsonNode Preview(JsonObject record)
    {
        var copy = new JsonObject();
        foreach (var (key, value) in record)
            copy[key] = value is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > MaxExampleText
                ? JsonValue.Create(text[..(MaxExampleText - 1)] + "…") : value?.DeepClone();
        return copy;
    }

    /// <summary>A file the caller already holds in a dataset or a model they may write is not uploaded again.</summary>
    private bool Holds(string sha256, Caller caller) => datasets.CallerHolds(sha256, caller) || models.CallerHolds(sha256, caller);
}

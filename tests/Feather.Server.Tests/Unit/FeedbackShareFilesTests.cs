using System.IO.Compression;
using System.Text.Json.Nodes;
using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Configuration;
using Feather.Server.Feedback;
using Feather.Server.Runs;
using Feather.Server.Storage;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// Feedback keeps the step files it shares (a real LiteDB file and the run file store on disk): the run's files go
/// with the run (retention, or its user deleting it), the shared feedback and its export keep the image.
/// </summary>
public sealed class FeedbackShareFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("feather-feedback-files-").FullName;
    private readonly FeatherDb _db;
    private readonly RunFileStore _files;

    public FeedbackShareFilesTests()
    {
        var options = new FeatherOptions { DataDirectory = _dir };
        _db = new FeatherDb(options);
        _files = new RunFileStore(options);
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static byte[] Png(int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        byte[] signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        signature.CopyTo(bytes, 0);
        return bytes;
    }

    private async Task<JsonObject> FileRefAsync(string runId, string name, byte[] bytes)
    {
        var file = await _files.SaveAsync(runId, name, "image/png", new MemoryStream(bytes), long.MaxValue, "maxStepFileBytes", default);
        return new JsonObject
        {
            ["name"] = name, ["media_type"] = "image/png", ["file"] = file.Id, ["size"] = file.Size,
            ["url"] = Routes.Expand(Routes.RunFile, runId, file.Id),
        };
    }

    [Fact]
    public async Task Shared_feedback_keeps_its_step_files_after_the_runs_files_are_gone_and_exports_the_image()
    {
        var run = new RunRecord { Id = Feather.Server.Common.Ids.New(), ModelId = "m1", Owner = "ann", Model = "vqg", Version = 1 };
        var photo = Png(70_000);
        var big = Png((int)FeedbackStore.MaxSharedFileBytes + 1);
        var responses = new JsonObject
        {
            ["photo"] = new JsonObject { ["files"] = new JsonArray(await FileRefAsync(run.Id, "photo.png", photo)) },
            ["huge"] = new JsonObject { ["files"] = new JsonArray(await FileRefAsync(run.Id, "huge.png", big)) },
        };
        var outputs = new JsonArray(new JsonObject { ["name"] = "answer", ["component"] = "Text.View", ["value"] = "a cat" });
        run.Steps.Add(new RunStepRecord
        {
            Index = 0, Name = "ask", Status = StepStatus.Succeeded, ResponsesJson = responses.ToJsonString(), OutputsJson = outputs.ToJsonString(),
        });

        var store = new FeedbackStore(_db, _files);
        var given = Assert.IsType<GiveResult.Given>(store.Give(run, 0, new FeedbackRequest("answer", Rating: "incorrect", Label: "a dog"),
            new Caller("bob", false, new HashSet<string>())));
        _files.DeleteRun(run.Id); // the retention sweep, or the consumer deleting the run
        Assert.Empty(_files.List(run.Id));

        var share = store.Share(given.Feedback.ShareId)!;
        var kept = JsonNode.Parse(share.InputsJson)!;
        Assert.Equal(Convert.ToBase64String(photo), kept["photo"]!["files"]![0]!["data"]!.GetValue<string>());
        Assert.Null(kept["photo"]!["files"]![0]!["url"]);
        Assert.Null(kept["huge"]!["files"]![0]!["data"]);
        Assert.Equal(big.Length, kept["huge"]!["files"]![0]!["size"]!.GetValue<long>());
        Assert.Contains("not kept", kept["huge"]!["files"]![0]!["note"]!.GetValue<string>());

        using var zip = new MemoryStream();
        await FeedbackExport.WriteZipAsync(zip, "ann/vqg", [given.Feedback], store.Share, default);
        zip.Position = 0;
        using var archive = new ZipArchive(zip, ZipArchiveMode.Read);
        var image = Assert.Single(archive.Entries, e => e.FullName.StartsWith("images/", StringComparison.Ordinal));
        using var read = new MemoryStream();
        await using (var s = image.Open()) await s.CopyToAsync(read);
        Assert.Equal(photo, read.ToArray());
    }
}

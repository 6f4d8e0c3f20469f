using Feather.Server.Auth;
using Feather.Server.Configuration;
using Feather.Server.Environments;
using Feather.Server.Models;
using Feather.Server.Runs;
using Feather.Server.Storage;

namespace Feather.Server.Tests.Environments;

/// <summary>What the retention policy keeps, read from a real LiteDB file.</summary>
public sealed class VersionImageKeepListTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("feather-keep-").FullName;
    private readonly FeatherDb _db;

    public VersionImageKeepListTests() => _db = new FeatherDb(new FeatherOptions { DataDirectory = _dir });

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private void Version(string model, int number, DateTime created) => _db.Versions.Insert(new VersionRecord
    {
        Id = $"{model}-{number}", ModelId = model, Number = number, CreatedAt = created,
        ImageStatus = ImageStatus.Ready, VersionImage = $"feather-version:{model}-{number}",
    });

    [Fact]
    public void Live_tagged_recently_published_and_recently_run_versions_are_kept()
    {
        var now = new DateTime(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);
        var old = now.AddDays(-60);
        _db.Models.Insert(new ModelRecord { Id = "m", Key = "ada/m", LiveVersion = 2, Tags = new() { ["stable"] = 3 } });
        for (var n = 1; n <= 5; n++) Version("m", n, n == 5 ? now.AddDays(-1) : old);
        Version("m", 6, old);
        _db.Runs.Insert(new RunRecord
        {
            Id = "r1", ModelId = "m", Version = 4, CreatedAt = old,
            Steps = [new RunStepRecord { Index = 0, StartedAt = now.AddDays(-2) }],
        });
        _db.Runs.Insert(new RunRecord { Id = "r2", ModelId = "m", Version = 6, CreatedAt = old });

        var keep = new VersionImageKeepList(_db, new ModelStore(_db, new Accounts(_db, TimeProvider.System))).VersionImagesToKeep(now.AddDays(-14));
        // 2 live, 3 tagged, 4 run two days ago, 5 published yesterday; 1 and 6 (run 60 days ago) are not needed
        Assert.Equal(["feather-version:m-2", "feather-version:m-3", "feather-version:m-4", "feather-version:m-5"], keep.Order().ToArray());
    }

    [Fact]
    public void A_removed_image_marks_its_version_removed()
    {
        Version("m", 1, DateTime.UtcNow);
        new VersionImageKeepList(_db, new ModelStore(_db, new Accounts(_db, TimeProvider.System))).ImageRemoved("feather-version:m-1", "its image was removed by the image retention policy");
        var v = _db.Versions.FindById("m-1");
        Assert.Equal(ImageStatus.Removed, v.ImageStatus);
        Assert.Equal("its image was removed by the image retention policy", v.ImageError);
    }
}

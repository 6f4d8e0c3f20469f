using Feather.Server.Configuration;
using Feather.Server.Runs;
using Feather.Server.Storage;

namespace Feather.Server.Tests.Unit;

/// <summary>The LiteDB file keeps values as they were written.</summary>
public sealed class FeatherDbTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("feather-db-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_empty_string_reads_back_as_empty_not_null_after_a_reopen()
    {
        var options = new FeatherOptions { DataDirectory = _dir };
        using (var db = new FeatherDb(options))
            db.Runs.Insert(new RunRecord { Id = "r1", Steps = [new RunStepRecord { Index = 0, Name = "greet", Logs = "" }] });
        using var reopened = new FeatherDb(options);
        var step = reopened.Runs.FindById("r1").Steps[0];
        Assert.Equal("", step.Logs); // LiteDB's default mapper would give null here
        Assert.Equal("greet", step.Name);
    }
}

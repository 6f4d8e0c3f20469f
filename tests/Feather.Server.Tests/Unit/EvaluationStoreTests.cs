using Feather.Contracts;
using Feather.Server.Auth;
using Feather.Server.Configuration;
using Feather.Server.Datasets;
using Feather.Server.Evaluations;
using Feather.Server.Models;
using Feather.Server.Storage;

namespace Feather.Server.Tests.Unit;

/// <summary>The evaluation store on a real LiteDB file: the leaderboard query and who sees what.</summary>
public sealed class EvaluationStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("feather-eval-store-").FullName;
    private readonly FeatherDb _db;
    private readonly EvaluationStore _store;

    public EvaluationStoreTests()
    {
        _db = new FeatherDb(new FeatherOptions { DataDirectory = _dir });
        var accounts = new Accounts(_db, TimeProvider.System);
        _store = new EvaluationStore(_db, new ModelStore(_db, accounts), new DatasetStore(_db, accounts));
        _db.Models.Insert(new ModelRecord { Id = "m-public", Key = "ann/pub", Owner = "ann", Name = "pub", Visibility = Visibility.Public });
        _db.Models.Insert(new ModelRecord { Id = "m-private", Key = "ann/priv", Owner = "ann", Name = "priv", Visibility = Visibility.Private });
        _db.Datasets.Insert(new Feather.Server.Datasets.DatasetRecord { Id = "d-public", Key = "lab/digits", Owner = "lab", Name = "digits", Visibility = Visibility.Public });
        _db.Datasets.Insert(new Feather.Server.Datasets.DatasetRecord { Id = "d-private", Key = "lab/secret", Owner = "lab", Name = "secret", Visibility = Visibility.Private });
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private EvaluationRecord Add(string model, int version, string dataset, int datasetVersion, string status, double accuracy, int minutesAgo)
    {
        var e = new EvaluationRecord
        {
            Id = Guid.NewGuid().ToString("n"), ModelId = model, ModelVersion = version, DatasetId = dataset, DatasetVersion = datasetVersion,
            Task = "image-classification", Status = status, Metrics = new() { ["accuracy"] = accuracy },
            CreatedAt = DateTime.UtcNow.AddMinutes(-minutesAgo), FinishedAt = DateTime.UtcNow.AddMinutes(-minutesAgo + 1),
        };
        _store.Insert(e);
        return e;
    }

    private static Caller User(string name) => new(name, false, new HashSet<string>());

    [Fact]
    public void The_leaderboard_query_keeps_the_latest_succeeded_evaluation_of_each_pair()
    {
        Add("m-public", 1, "d-public", 1, EvaluationStatus.Succeeded, 0.5, 30);
        var latest = Add("m-public", 1, "d-public", 1, EvaluationStatus.Succeeded, 0.6, 20);
        Add("m-public", 1, "d-public", 1, EvaluationStatus.Failed, 0, 10);
        var v2 = Add("m-public", 2, "d-public", 1, EvaluationStatus.Succeeded, 0.9, 5);
        var other = Add("m-public", 2, "d-public", 2, EvaluationStatus.Succeeded, 0.8, 5);
        Add("m-private", 1, "d-public", 1, EvaluationStatus.Running, 0, 1);

        var all = _store.LatestSucceeded("image-classification").Select(e => e.Id).Order().ToArray();
        Assert.Equal(new[] { latest.Id, v2.Id, other.Id }.Order(), all);
        Assert.Equal([other.Id], _store.LatestSucceeded(datasetId: "d-public", datasetVersion: 2).Select(e => e.Id));
        Assert.Empty(_store.LatestSucceeded("regression"));
        Assert.Equal(0.6, _store.Find(latest.Id)!.ToView().Score);
    }

    [Fact]
    public void An_evaluation_is_visible_only_to_who_can_read_both_its_model_and_its_dataset()
    {
        var open = Add("m-public", 1, "d-public", 1, EvaluationStatus.Succeeded, 0.5, 1);
        var privateModel = Add("m-private", 1, "d-public", 1, EvaluationStatus.Succeeded, 0.5, 1);
        var privateDataset = Add("m-public", 1, "d-private", 1, EvaluationStatus.Succeeded, 0.5, 1);
        var anonymous = new Caller(null, false, new HashSet<string>());

        Assert.True(_store.CanSee(open, anonymous));
        Assert.False(_store.CanSee(privateModel, User("lab")));
        Assert.True(_store.CanSee(privateModel, User("ann")));
        Assert.False(_store.CanSee(privateDataset, User("ann")));
        Assert.True(_store.CanSee(privateDataset, User("lab")));
        // the per-record view: the model's owner, and only where the dataset is visible too
        Assert.True(_store.CanSeeRecords(open, User("ann")));
        Assert.False(_store.CanSeeRecords(open, User("lab")));
        Assert.False(_store.CanSeeRecords(privateDataset, User("ann")));
    }

    [Fact]
    public void Scored_records_read_back()
    {
        var e = Add("m-public", 1, "d-public", 1, EvaluationStatus.Succeeded, 0.5, 1);
        _store.SaveRecords(e.Id, [new ScoredRecord { Index = 0, Label = "\"3\"", Prediction = "\"8\"", Correct = false }], truncated: false);
        var view = _store.Records(e.Id)!.Records.Single().ToView();
        Assert.Equal("3", view.Label.GetString());
        Assert.Equal("8", view.Prediction.GetString());
        Assert.False(view.Correct);
    }
}

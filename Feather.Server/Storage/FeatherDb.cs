using Feather.Server.Auth;
using Feather.Server.Configuration;
using Feather.Server.Datasets;
using Feather.Server.Evaluations;
using Feather.Server.Models;
using Feather.Server.Publishing;
using Feather.Server.Runs;
using LiteDB;

namespace Feather.Server.Storage;

/// <summary>
/// The server's one LiteDB file (<c>$FEATHER_DATA/feather.db</c>). LiteDB is thread-safe in direct
/// mode; feature repositories use the typed collections below and nothing else.
/// </summary>
public sealed class FeatherDb : IDisposable
{
    private readonly LiteDatabase _db;

    public FeatherDb(FeatherOptions options)
    {
        // EmptyStringToNull off: an empty log or description reads back as "", not null
        var mapper = new BsonMapper { EnumAsInteger = false, EmptyStringToNull = false };
        _db = new LiteDatabase(new ConnectionString { Filename = options.DatabasePath, Connection = ConnectionType.Direct }, mapper);
        _db.UtcDate = true;
        PrivateFiles.Restrict(options.DatabasePath); // LiteDB creates the file with the default mode

        Users.EnsureIndex(u => u.Username, unique: true);
        Tokens.EnsureIndex(t => t.Hash, unique: true);
        Tokens.EnsureIndex(t => t.Username);
        Teams.EnsureIndex(t => t.Name, unique: true);
        Models.EnsureIndex(m => m.Key, unique: true);
        Models.EnsureIndex(m => m.Owner);
        Versions.EnsureIndex(v => v.ModelId);
        Publishes.EnsureIndex(p => p.ExpiresAt);
        Runs.EnsureIndex(r => r.ModelId);
        Datasets.EnsureIndex(d => d.Key, unique: true);
        DatasetVersions.EnsureIndex(v => v.DatasetId);
        Evaluations.EnsureIndex(e => e.ModelId);
        Evaluations.EnsureIndex(e => e.DatasetId);
        Evaluations.EnsureIndex(e => e.Status);
        Finetunes.EnsureIndex(f => f.RequestedBy);
        Finetunes.EnsureIndex(f => f.Status);
    }

    public ILiteCollection<UserRecord> Users => _db.GetCollection<UserRecord>("users");
    public ILiteCollection<TokenRecord> Tokens => _db.GetCollection<TokenRecord>("tokens");
    public ILiteCollection<TeamRecord> Teams => _db.GetCollection<TeamRecord>("teams");
    public ILiteCollection<ModelRecord> Models => _db.GetCollection<ModelRecord>("models");
    public ILiteCollection<VersionRecord> Versions => _db.GetCollection<VersionRecord>("versions");
    public ILiteCollection<PublishRecord> Publishes => _db.GetCollection<PublishRecord>("publishes");
    public ILiteCollection<RunRecord> Runs => _db.GetCollection<RunRecord>("runs");
    public ILiteCollection<DatasetRecord> Datasets => _db.GetCollection<DatasetRecord>("datasets");
    public ILiteCollection<DatasetVersionRecord> DatasetVersions => _db.GetCollection<DatasetVersionRecord>("dataset_versions");
    public ILiteCollection<EvaluationRecord> Evaluations => _db.GetCollection<EvaluationRecord>("evaluations");
    public ILiteCollection<Feather.Server.Finetunes.FinetuneRecord> Finetunes => _db.GetCollection<Feather.Server.Finetunes.FinetuneRecord>("finetunes");
    public ILiteCollection<EvaluationPredictionsRecord> EvaluationPredictions => _db.GetCollection<EvaluationPredictionsRecord>("evaluation_predictions");

    /// <summary>A collection of a feature that keeps its own (feedback, usage, monitoring); the feature ensures its indexes.</summary>
    public ILiteCollection<T> Collection<T>(string name) => _db.GetCollection<T>(name);

    /// <summary>Runs <paramref name="work"/> in one LiteDB transaction (all or nothing).</summary>
    public T InTransaction<T>(Func<T> work)
    {
        lock (_db)
        {
            _db.BeginTrans();
            try
            {
                var result = work();
                _db.Commit();
                return result;
            }
            catch
            {
                _db.Rollback();
                throw;
            }
        }
    }

    /// <summary>A cheap read that fails when the file is unusable (readiness).</summary>
    public bool Ping()
    {
        _ = _db.GetCollectionNames().Count();
        return true;
    }

    public void Dispose() => _db.Dispose();
}

public static class StorageExtensions
{
    public static WebApplicationBuilder AddStorage(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FeatherDb>();
        builder.Services.AddSingleton<Common.FeatherEvents>();
        return builder;
    }
}

namespace Feather.Contracts;

/// <summary>A metric of a task as a leaderboard shows it: its key in the entries' metrics, its display name, whether a higher value is better, and whether models are ranked by it.</summary>
public sealed record LeaderboardMetric(string Name, string Title, bool HigherIsBetter, bool Primary);

/// <summary>A dataset version that has a board for a task, as the list of boards and the board's switcher name it.</summary>
/// <param name="Models">How many models (live versions) are ranked on it for the caller.</param>
/// <param name="Leader">The first entry of the live board, null when it is empty.</param>
public sealed record LeaderboardSummary(string Task, string DatasetOwner, string Dataset, int DatasetVersion, string? DatasetTitle,
    string PrimaryMetric, bool HigherIsBetter, int Models, LeaderboardEntry? Leader, DateTime UpdatedAt);

/// <summary>
/// One model version's place on a board: its rank by the primary metric (models with the same score share a rank),
/// the primary score, every scalar metric, when it was evaluated and where the model lives.
/// </summary>
/// <param name="Live">Whether this is the model's live version now.</param>
/// <param name="Url">The model's page in the portal.</param>
public sealed record LeaderboardEntry(int Rank, string Owner, string Model, int Version, bool Live, double Score,
    IReadOnlyDictionary<string, double> Metrics, string EvaluationId, DateTime EvaluatedAt, string Url);

/// <summary>
/// The board of one task on one dataset version: its metrics (the primary one first) and its entries, best first.
/// <c>Versions</c> is <c>live</c> (each model's live version) or <c>all</c> (every evaluated version of each model).
/// <c>Boards</c> lists the other boards of the task the caller can see (other datasets and dataset versions).
/// </summary>
public sealed record Leaderboard(string Task, string DatasetOwner, string Dataset, int DatasetVersion, string? DatasetTitle,
    string Versions, LeaderboardMetric[] Metrics, LeaderboardEntry[] Entries, LeaderboardSummary[] Boards);

/// <summary>
/// A model version's score on one dataset version, for the model page: the metrics, and its rank on that board
/// (among the live versions when it is live, among every version otherwise), out of how many entries.
/// </summary>
public sealed record ModelScore(string Task, string DatasetOwner, string Dataset, int DatasetVersion, int Version, bool Live,
    string PrimaryMetric, bool HigherIsBetter, double Score, IReadOnlyDictionary<string, double> Metrics, int Rank, int Of,
    string EvaluationId, DateTime EvaluatedAt);

using System.Text;
using System.Text.RegularExpressions;

namespace Feather.Contracts;

/// <summary>
/// The server's HTTP routes: the server maps its endpoints on these templates, the CLI builds its
/// URLs from them with <see cref="Expand"/>. Each route has an operation id (<see cref="Operations"/>)
/// that the OpenAPI document carries, and from which scripts/gen-contract.py writes the tables of
/// the SDK client (python-sdk/feather/_contract.py) and the portal (Portal/static/js/contract.js).
/// </summary>
public static partial class Routes
{
    public const string Health = "/healthz";
    public const string Ready = "/readyz";

    public const string Me = "/api/me";
    public const string Tokens = "/api/auth/tokens";
    public const string Token = "/api/auth/tokens/{id}";
    public const string Login = "/api/auth/login";
    public const string Logout = "/api/auth/logout";
    public const string Antiforgery = "/api/auth/antiforgery";
    public const string Password = "/api/auth/password";
    public const string LogoutEverywhere = "/api/auth/logout-everywhere";
    public const string Users = "/api/users";
    public const string DisableUser = "/api/users/{username}/disable";
    public const string EnableUser = "/api/users/{username}/enable";
    public const string Teams = "/api/teams";
    public const string Team = "/api/teams/{team}";
    public const string TeamMembers = "/api/teams/{team}/members";
    public const string TeamMember = "/api/teams/{team}/members/{username}";

    public const string Publish = "/api/publish";
    public const string PublishComplete = "/api/publish/{publishId}/complete";
    /// <summary>One file's upload: <c>{file}</c> is its SHA-256, or the key the server gave a file published without one.</summary>
    public const string Upload = "/api/uploads/{publishId}/{file}";

    public const string Models = "/api/models";
    public const string Model = "/api/models/{owner}/{model}";
    public const string ModelOpenApi = "/api/models/{owner}/{model}/openapi.json";
    public const string Versions = "/api/models/{owner}/{model}/versions";
    public const string Version = "/api/models/{owner}/{model}/versions/{reference}";
    public const string Live = "/api/models/{owner}/{model}/live";
    public const string Rollback = "/api/models/{owner}/{model}/rollback";
    public const string Tag = "/api/models/{owner}/{model}/tags/{tag}";

    public const string DatasetPublish = "/api/dataset-publishes";
    public const string DatasetPublishComplete = "/api/dataset-publishes/{publishId}/complete";
    public const string Datasets = "/api/datasets";
    public const string Dataset = "/api/datasets/{owner}/{dataset}";
    public const string DatasetVersions = "/api/datasets/{owner}/{dataset}/versions";
    public const string DatasetVersion = "/api/datasets/{owner}/{dataset}/versions/{number:int}";
    /// <summary>One file of a dataset version, by its path in the dataset directory (<c>?path=images/0001.png</c>).</summary>
    public const string DatasetFile = "/api/datasets/{owner}/{dataset}/versions/{number:int}/file";

    public const string Leaderboards = "/api/leaderboards";
    public const string Leaderboard = "/api/leaderboards/{task}";
    public const string ModelScores = "/api/models/{owner}/{model}/scores";
    public const string Evaluations = "/api/evaluations";
    public const string Evaluation = "/api/evaluations/{id}";
    /// <summary>The scored records of an evaluation (<c>?wrong=true</c>: only those the model got wrong), for whoever can change the model.</summary>
    public const string EvaluationRecords = "/api/evaluations/{id}/records";
    public const string ModelEvaluations = "/api/models/{owner}/{model}/evaluations";
    public const string EvaluationTasks = "/api/evaluation-tasks";

    public const string Finetunes = "/api/finetunes";
    public const string Finetune = "/api/finetunes/{id}";
    /// <summary>A fine-tune job's progress, log and end as server-sent events.</summary>
    public const string FinetuneEvents = "/api/finetunes/{id}/events";

    public const string StartRun = "/api/models/{owner}/{model}/runs";
    public const string Execute = "/api/models/{owner}/{model}/execute";
    public const string Runs = "/api/runs";
    public const string Run = "/api/runs/{runId}";
    public const string Step = "/api/runs/{runId}/steps/{index:int}";
    public const string StepResponses = "/api/runs/{runId}/steps/{index:int}/responses";
    public const string StepEvents = "/api/runs/{runId}/steps/{index:int}/events";
    /// <summary>A run's files: POST streams one in (the body is the file), GET on one of them downloads it.</summary>
    public const string RunFiles = "/api/runs/{runId}/files";
    public const string RunFile = "/api/runs/{runId}/files/{fileId}";
    /// <summary>The server's limits that clients enforce before they send (step file sizes).</summary>
    public const string Limits = "/api/limits";

    /// <summary>Feedback on a step's outputs (POST: give it; GET: the caller's own on this step).</summary>
    public const string StepFeedback = "/api/runs/{runId}/steps/{index:int}/feedback";
    /// <summary>The feedback a model received (its owner and team only).</summary>
    public const string ModelFeedback = "/api/models/{owner}/{model}/feedback";
    /// <summary>The model's feedback as a zipped dataset directory that <c>feather datasets publish</c> accepts.</summary>
    public const string ModelFeedbackExport = "/api/models/{owner}/{model}/feedback/export";
    public const string Feedback = "/api/feedback/{id}";
    public const string Usage = "/api/usage";
    public const string Quotas = "/api/quotas";
    public const string Quota = "/api/quotas/{kind}/{name}";
    public const string RetentionSweep = "/api/admin/retention/sweep";
    public const string Monitoring = "/api/models/{owner}/{model}/monitoring";

    /// <summary>An operation of the API: its id in the OpenAPI document, its method and route.</summary>
    public sealed record Operation(string Id, string Method, string Route)
    {
        /// <summary>The route as the OpenAPI document writes it (no route constraints).</summary>
        public string Path => Constraint().Replace(Route, "");
    }

    /// <summary>The operations that clients call by name. Their ids are the OpenAPI operation ids.</summary>
    public static readonly IReadOnlyList<Operation> Operations =
    [
        new("health", "GET", Health),
        new("ready", "GET", Ready),
        new("me", "GET", Me),
        new("createToken", "POST", Tokens),
        new("listTokens", "GET", Tokens),
        new("revokeToken", "DELETE", Token),
        new("login", "POST", Login),
        new("logout", "POST", Logout),
        new("antiforgery", "GET", Antiforgery),
        new("changePassword", "POST", Password),
        new("logoutEverywhere", "POST", LogoutEverywhere),
        new("createUser", "POST", Users),
        new("listUsers", "GET", Users),
        new("disableUser", "POST", DisableUser),
        new("enableUser", "POST", EnableUser),
        new("createTeam", "POST", Teams),
        new("getTeam", "GET", Team),
        new("addTeamMember", "POST", TeamMembers),
        new("removeTeamMember", "DELETE", TeamMember),
        new("startPublish", "POST", Publish),
        new("uploadFile", "PUT", Upload),
        new("uploadOffset", "HEAD", Upload),
        new("resumeUpload", "PATCH", Upload),
        new("completePublish", "POST", PublishComplete),
        new("listModels", "GET", Models),
        new("getModel", "GET", Model),
        new("updateModel", "PATCH", Model),
        new("getModelOpenApi", "GET", ModelOpenApi),
        new("listVersions", "GET", Versions),
        new("getVersion", "GET", Version),
        new("promoteVersion", "POST", Live),
        new("rollbackVersion", "POST", Rollback),
        new("setTag", "PUT", Tag),
        new("deleteTag", "DELETE", Tag),
        new("startDatasetPublish", "POST", DatasetPublish),
        new("completeDatasetPublish", "POST", DatasetPublishComplete),
        new("listDatasets", "GET", Datasets),
        new("getDataset", "GET", Dataset),
        new("updateDataset", "PATCH", Dataset),
        new("listDatasetVersions", "GET", DatasetVersions),
        new("getDatasetVersion", "GET", DatasetVersion),
        new("getDatasetFile", "GET", DatasetFile),
        new("listLeaderboards", "GET", Leaderboards),
        new("getLeaderboard", "GET", Leaderboard),
        new("getModelScores", "GET", ModelScores),
        new("startEvaluation", "POST", Evaluations),
        new("getEvaluation", "GET", Evaluation),
        new("cancelEvaluation", "DELETE", Evaluation),
        new("getEvaluationRecords", "GET", EvaluationRecords),
        new("listModelEvaluations", "GET", ModelEvaluations),
        new("listEvaluationTasks", "GET", EvaluationTasks),
        new("startFinetune", "POST", Finetunes),
        new("listFinetunes", "GET", Finetunes),
        new("getFinetune", "GET", Finetune),
        new("cancelFinetune", "DELETE", Finetune),
        new("finetuneEvents", "GET", FinetuneEvents),
        new("startRun", "POST", StartRun),
        new("execute", "POST", Execute),
        new("listRuns", "GET", Runs),
        new("getRun", "GET", Run),
        new("getStep", "GET", Step),
        new("submitStep", "POST", Step),
        new("cancelStep", "DELETE", Step),
        new("getStepResponses", "GET", StepResponses),
        new("stepEvents", "GET", StepEvents),
        new("uploadRunFile", "POST", RunFiles),
        new("downloadRunFile", "GET", RunFile),
        new("getLimits", "GET", Limits),
        new("deleteRun", "DELETE", Run),
        new("giveFeedback", "POST", StepFeedback),
        new("listStepFeedback", "GET", StepFeedback),
        new("listModelFeedback", "GET", ModelFeedback),
        new("exportFeedback", "GET", ModelFeedbackExport),
        new("deleteFeedback", "DELETE", Feedback),
        new("getUsage", "GET", Usage),
        new("listQuotas", "GET", Quotas),
        new("setQuota", "PUT", Quota),
        new("deleteQuota", "DELETE", Quota),
        new("sweepRetention", "POST", RetentionSweep),
        new("getMonitoring", "GET", Monitoring),
    ];

    /// <summary>
    /// The path of a route with its parameters filled in, in order and URL-escaped:
    /// <c>Expand(Step, "r1", 0)</c> is <c>/api/runs/r1/steps/0</c>.
    /// </summary>
    public static string Expand(string route, params object[] values)
    {
        var i = 0;
        var path = Parameter().Replace(route, match =>
        {
            if (i >= values.Length)
                throw new ArgumentException($"{route} needs a value for {match.Groups["name"].Value}", nameof(values));
            return Uri.EscapeDataString(Convert.ToString(values[i++], System.Globalization.CultureInfo.InvariantCulture) ?? "");
        });
        if (i != values.Length) throw new ArgumentException($"{route} takes {i} values, not {values.Length}", nameof(values));
        return path;
    }

    /// <summary><see cref="Expand"/> plus a query string of the pairs whose value is not null.</summary>
    public static string WithQuery(string path, params (string Name, object? Value)[] query)
    {
        var text = new StringBuilder(path);
        var first = true;
        foreach (var (name, value) in query)
        {
            if (value is null) continue;
            text.Append(first ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=')
                .Append(Uri.EscapeDataString(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
            first = false;
        }
        return text.ToString();
    }

    [GeneratedRegex("{(?<name>[A-Za-z]+)(:[^}]*)?}")]
    private static partial Regex Parameter();

    [GeneratedRegex(":[^}]*(?=})")]
    private static partial Regex Constraint();
}

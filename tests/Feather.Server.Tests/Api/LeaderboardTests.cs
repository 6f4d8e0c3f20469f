using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Feather.Contracts;
using Feather.Server.Datasets;
using Feather.Server.Evaluations;
using Feather.Server.Models;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>
/// Leaderboards through the HTTP API over evaluations in the server's real store (as an evaluation job leaves them; the
/// end-to-end tests run real ones): ranking, all versions, model scores, and what each caller may see.
/// </summary>
public class LeaderboardTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;
    private HttpClient _olivia = null!, _oscar = null!, _anonymous = null!;
    private static readonly DateTime T0 = new(2026, 12, 1, 9, 0, 0, DateTimeKind.Utc);

    public async Task InitializeAsync()
    {
        _server = await FeatherTestServer.StartAsync();
        _olivia = _server.Client(await _server.UserTokenAsync("olivia"));
        _oscar = _server.Client(await _server.UserTokenAsync("oscar"));
        _anonymous = _server.Client();

        await new TestDataset().PublishAsync(_olivia, visibility: "public");                          // olivia/digits-mini
        await new TestDataset { Name = "secret-digits" }.PublishAsync(_olivia, visibility: "private");
        await new TestModel { Name = "alpha", Task = "image-classification" }.PublishAsync(_olivia, visibility: "public");
        await new TestModel { Name = "alpha", Task = "image-classification", Description = "v2" }.PublishAsync(_olivia);  // version 2, live
        await new TestModel { Name = "beta", Task = "image-classification" }.PublishAsync(_oscar, visibility: "public");
        await new TestModel { Name = "hidden", Task = "image-classification" }.PublishAsync(_olivia, visibility: "private");

        Evaluate("olivia", "alpha", 1, "digits-mini", 0.80, 0.79, minutes: 1);
        Evaluate("olivia", "alpha", 2, "digits-mini", 0.95, 0.94, minutes: 2);
        Evaluate("oscar", "beta", 1, "digits-mini", 0.90, 0.91, minutes: 3);
        Evaluate("oscar", "beta", 1, "digits-mini", 0.99, 0.99, minutes: 4, status: EvaluationStatus.Failed);   // not a score
        Evaluate("olivia", "hidden", 1, "digits-mini", 0.99, 0.98, minutes: 5);
        Evaluate("olivia", "alpha", 2, "secret-digits", 0.50, 0.40, minutes: 6);
    }

    public async Task DisposeAsync()
    {
        foreach (var c in new[] { _olivia, _oscar, _anonymous }) c.Dispose();
        await _server.DisposeAsync();
    }

    private void Evaluate(string owner, string model, int version, string dataset, double accuracy, double macroF1, int minutes,
        string status = EvaluationStatus.Succeeded)
    {
        var m = _server.Services.GetRequiredService<ModelStore>().Find(owner, model)!;
        var d = _server.Services.GetRequiredService<DatasetStore>().Find("olivia", dataset)!;
        _server.Services.GetRequiredService<EvaluationStore>().Insert(new EvaluationRecord
        {
            Id = Guid.NewGuid().ToString("N"), ModelId = m.Id, ModelOwner = owner, ModelName = model, ModelVersion = version,
            DatasetId = d.Id, DatasetOwner = d.Owner, DatasetName = d.Name, DatasetVersion = 1, Task = "image-classification",
            Status = status, Metrics = new() { ["accuracy"] = accuracy, ["macro_f1"] = macroF1 }, RecordCount = 3, RecordsDone = 3,
            CreatedAt = T0.AddMinutes(minutes), FinishedAt = T0.AddMinutes(minutes),
        });
    }

    private static (string Model, int Version, int Rank, double Score)[] Rows(JsonNode board) =>
        board["entries"]!.AsArray().Select(e => ($"{e!["owner"]}/{e["model"]}", e["version"]!.GetValue<int>(), e["rank"]!.GetValue<int>(),
            e["score"]!.GetValue<double>())).ToArray();

    [Fact]
    public async Task The_live_board_ranks_live_versions_by_accuracy_with_every_metric_and_a_link_and_leaves_private_models_off()
    {
        var board = await (await _anonymous.GetAsync("/api/leaderboards/image-classification")).Json(HttpStatusCode.OK);
        Assert.Equal("olivia", board["datasetOwner"]!.GetValue<string>());
        Assert.Equal("digits-mini", board["dataset"]!.GetValue<string>());
        Assert.Equal(1, board["datasetVersion"]!.GetValue<int>());
        Assert.Equal("live", board["versions"]!.GetValue<string>());
        Assert.Equal(["accuracy", "macro_f1"], board["metrics"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()));
        Assert.True(board["metrics"]![0]!["primary"]!.GetValue<bool>());
        Assert.Equal([("olivia/alpha", 2, 1, 0.95), ("oscar/beta", 1, 2, 0.90)], Rows(board));
        var first = board["entries"]![0]!;
        Assert.Equal(0.94, first["metrics"]!["macro_f1"]!.GetValue<double>());
        Assert.Equal("/models/olivia/alpha", first["url"]!.GetValue<string>());
        Assert.True(first["live"]!.GetValue<bool>());
        Assert.Equal(T0.AddMinutes(2), first["evaluatedAt"]!.GetValue<DateTime>().ToUniversalTime());

        // oscar does not see olivia's private model either; olivia does, ranked first
        Assert.Equal([("olivia/alpha", 2, 1, 0.95), ("oscar/beta", 1, 2, 0.90)],
            Rows(await (await _oscar.GetAsync("/api/leaderboards/image-classification?dataset=olivia/digits-mini")).Json(HttpStatusCode.OK)));
        Assert.Equal([("olivia/hidden", 1, 1, 0.99), ("olivia/alpha", 2, 2, 0.95), ("oscar/beta", 1, 3, 0.90)],
            Rows(await (await _olivia.GetAsync("/api/leaderboards/image-classification?dataset=olivia/digits-mini")).Json(HttpStatusCode.OK)));
    }

    [Fact]
    public async Task All_versions_ranks_every_evaluated_version()
    {
        var board = await (await _anonymous.GetAsync("/api/leaderboards/image-classification?dataset=olivia/digits-mini&datasetVersion=1&versions=all"))
            .Json(HttpStatusCode.OK);
        Assert.Equal("all", board["versions"]!.GetValue<string>());
        Assert.Equal([("olivia/alpha", 2, 1, 0.95), ("oscar/beta", 1, 2, 0.90), ("olivia/alpha", 1, 3, 0.80)], Rows(board));
        Assert.False(board["entries"]![2]!["live"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_private_datasets_board_exists_only_for_those_who_can_see_the_dataset()
    {
        var anonymousBoards = (await (await _anonymous.GetAsync("/api/leaderboards")).Json(HttpStatusCode.OK)).AsArray();
        var only = Assert.Single(anonymousBoards);
        Assert.Equal("digits-mini", only!["dataset"]!.GetValue<string>());
        Assert.Equal(2, only["models"]!.GetValue<int>());
        Assert.Equal("olivia/alpha".Split('/')[1], only["leader"]!["model"]!.GetValue<string>());
        Assert.Equal("accuracy", only["primaryMetric"]!.GetValue<string>());

        foreach (var outsider in new[] { _anonymous, _oscar })
        {
            var response = await outsider.GetAsync("/api/leaderboards/image-classification?dataset=olivia/secret-digits");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("secret-digits", await outsider.GetStringAsync("/api/leaderboards"));
        }
        var olivias = (await (await _olivia.GetAsync("/api/leaderboards")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Equal(["digits-mini", "secret-digits"], olivias.Select(b => b!["dataset"]!.GetValue<string>()));
        var secret = await (await _olivia.GetAsync("/api/leaderboards/image-classification?dataset=olivia/secret-digits")).Json(HttpStatusCode.OK);
        Assert.Equal([("olivia/alpha", 2, 1, 0.50)], Rows(secret));
    }

    [Fact]
    public async Task A_models_scores_carry_its_ranks_and_a_private_models_scores_are_404_to_others()
    {
        var scores = (await (await _anonymous.GetAsync("/api/models/olivia/alpha/scores")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Equal([(2, true, 1, 2, 0.95), (1, false, 3, 3, 0.80)], scores.Select(s => (s!["version"]!.GetValue<int>(), s["live"]!.GetValue<bool>(),
            s["rank"]!.GetValue<int>(), s["of"]!.GetValue<int>(), s["score"]!.GetValue<double>())));
        Assert.All(scores, s => Assert.Equal("digits-mini", s!["dataset"]!.GetValue<string>()));   // not the private dataset's

        var own = (await (await _olivia.GetAsync("/api/models/olivia/alpha/scores")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Contains(own, s => s!["dataset"]!.GetValue<string>() == "secret-digits" && s["rank"]!.GetValue<int>() == 1);
        Assert.Contains(own, s => s!["dataset"]!.GetValue<string>() == "digits-mini" && s["live"]!.GetValue<bool>() && s["rank"]!.GetValue<int>() == 2
                                  && s["of"]!.GetValue<int>() == 3);   // olivia also sees her private model ahead of it

        Assert.Equal(HttpStatusCode.NotFound, (await _oscar.GetAsync("/api/models/olivia/hidden/scores")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.GetAsync("/api/models/olivia/hidden/scores")).StatusCode);
        var hidden = (await (await _olivia.GetAsync("/api/models/olivia/hidden/scores")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Equal(0.99, Assert.Single(hidden)!["metrics"]!["accuracy"]!.GetValue<double>());
    }

    [Fact]
    public async Task Unknown_tasks_datasets_and_modes_are_clear_errors()
    {
        var unknown = await (await _anonymous.GetAsync("/api/leaderboards/astrology")).Json(HttpStatusCode.NotFound);
        Assert.Contains("no task 'astrology'", unknown["detail"]!.GetValue<string>());
        var empty = await (await _anonymous.GetAsync("/api/leaderboards/regression")).Json(HttpStatusCode.NotFound);
        Assert.Contains("no model has been evaluated for the task 'regression'", empty["detail"]!.GetValue<string>());
        await (await _anonymous.GetAsync("/api/leaderboards/image-classification?dataset=olivia/nope")).Json(HttpStatusCode.NotFound);
        await (await _anonymous.GetAsync("/api/leaderboards/image-classification?dataset=olivia/digits-mini&datasetVersion=7")).Json(HttpStatusCode.NotFound);
        var mode = await (await _anonymous.GetAsync("/api/leaderboards/image-classification?versions=some")).Json(HttpStatusCode.BadRequest);
        Assert.Contains("'versions' must be 'live' or 'all'", mode["detail"]!.GetValue<string>());
    }
}

using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Datasets;
using Feather.Server.Environments;
using Feather.Server.Retention;
using Feather.Server.Sandbox;
using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feather.Server.Tests.Api;

/// <summary>
/// Feedback (given by a consumer, seen and exported by the owner, nothing else of the consumer's runs visible), quotas
/// (429 with the quota and its reset), retention (expired runs gone, feedback kept, the database bounded) and drift
/// monitoring, against the real server with the runner's test doubles.
/// </summary>
public class FeedbackUsageRetentionTests
{
    private sealed class Lab : IAsyncDisposable
    {
        public required FeatherTestServer Server { get; init; }
        public required HttpClient Owner { get; init; }
        public required HttpClient Consumer { get; init; }
        public required HttpClient Other { get; init; }
        public required HttpClient Admin { get; init; }

        /// <summary>olga publishes olga/hello (public); carol consumes it; dave is someone else.</summary>
        public static async Task<Lab> StartAsync(Dictionary<string, string>? settings = null, TestModel? model = null)
        {
            var server = await FeatherTestServer.StartAsync(settings, s =>
            {
                s.AddSingleton<IImageBuilder>(new TestDoubleImageBuilder());
                s.AddSingleton<IStepExecutor>(new TestDoubleStepExecutor());
            });
            var owner = server.Client(await server.UserTokenAsync("olga"));
            var lab = new Lab
            {
                Server = server, Owner = owner, Consumer = server.Client(await server.UserTokenAsync("carol")),
                Other = server.Client(await server.UserTokenAsync("dave")), Admin = server.Client(await server.AdminTokenAsync()),
            };
            await (model ?? new TestModel()).PublishAsync(owner, visibility: "public");
            for (var i = 0; i < 100; i++)
            {
                var v = await (await owner.GetAsync("/api/models/olga/hello/versions/1")).Json(HttpStatusCode.OK);
                if (v["image"]!["status"]!.GetValue<string>() == "ready") return lab;
                await Task.Delay(100);
            }
            throw new TimeoutException("the image never became ready");
        }

        public async Task<string> RunStep0Async(HttpClient client, JsonObject responses)
        {
            var run = await (await client.PostAsJsonAsync("/api/models/olga/hello/runs", new { })).Json(HttpStatusCode.Created);
            var id = run["id"]!.GetValue<string>();
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{id}/steps/0") { Content = JsonContent.Create(new JsonObject { ["responses"] = responses }) };
            request.Headers.Add("Prefer", "wait=30");
            var step = await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
            Assert.True(step["status"]!.GetValue<string>() == "succeeded", step.ToJsonString());
            return id;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var c in new[] { Owner, Consumer, Other, Admin }) c.Dispose();
            await Server.DisposeAsync();
        }
    }

    private static JsonObject Name(string text) => new() { ["name"] = new JsonObject { ["texts"] = new JsonArray(text) } };

    [Fact]
    public async Task Feedback_on_an_item_reaches_the_owner_with_its_inputs_and_exports_as_a_dataset_that_publishes()
    {
        await using var lab = await Lab.StartAsync();
        var run = await lab.RunStep0Async(lab.Consumer, Name("Ada"));

        // one item of the multi-item output, rated correct; and the whole output, with the right answer chosen from its items
        var onItem = await (await lab.Consumer.PostAsJsonAsync($"/api/runs/{run}/steps/0/feedback",
            new { output = "choices", item = 0, rating = "correct", comment = "fine" })).Json(HttpStatusCode.Created);
        Assert.Equal("first", onItem["prediction"]!.GetValue<string>());
        Assert.Equal("first", onItem["answer"]!.GetValue<string>());
        var corrected = await (await lab.Consumer.PostAsJsonAsync($"/api/runs/{run}/steps/0/feedback",
            new { output = "choices", rating = "incorrect", labelItem = 1 })).Json(HttpStatusCode.Created);
        Assert.Equal("second", corrected["answer"]!.GetValue<string>());
        var typed = await (await lab.Consumer.PostAsJsonAsync($"/api/runs/{run}/steps/0/feedback",
            new { output = "echo", rating = "incorrect", label = "Hello, Ada!" })).Json(HttpStatusCode.Created);
        Assert.Equal("Hello, Ada!", typed["answer"]!.GetValue<string>());

        // bad feedback: named field, clear message
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { output = "choices", item = 7, rating = "correct" }, "item"),
                     (new { output = "choices", labelItem = 9 }, "labelItem"),
                     (new { output = "nope", rating = "correct" }, "output"),
                     (new { output = "choices", rating = "great" }, "rating"),
                     (new { output = "choices" }, "rating"),
                 })
        {
            var problem = await (await lab.Consumer.PostAsJsonAsync($"/api/runs/{run}/steps/0/feedback", body)).Json(HttpStatusCode.BadRequest);
            Assert.True(problem["errors"]![field] is not null, problem.ToJsonString());
        }
        // a step that has not run has no outputs to judge
        await (await lab.Consumer.PostAsJsonAsync($"/api/runs/{run}/steps/1/feedback", new { output = "greeting", rating = "correct" }))
            .Json(HttpStatusCode.Conflict);
        // nobody else gives feedback on carol's run
        await (await lab.Other.PostAsJsonAsync($"/api/runs/{run}/steps/0/feedback", new { output = "choices", rating = "correct" }))
            .Json(HttpStatusCode.NotFound);
        Assert.Equal(3, (await (await lab.Consumer.GetAsync($"/api/runs/{run}/steps/0/feedback")).Json(HttpStatusCode.OK)).AsArray().Count);

        // the owner sees the feedback with the inputs it is about ...
        var all = (await (await lab.Owner.GetAsync("/api/models/olga/hello/feedback")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Equal(3, all.Count);
        Assert.All(all, f => Assert.Equal("Ada", f!["inputs"]!["name"]!["texts"]![0]!.GetValue<string>()));
        Assert.All(all, f => Assert.Equal("carol", f!["createdBy"]!.GetValue<string>()));
        Assert.Single((await (await lab.Owner.GetAsync("/api/models/olga/hello/feedback?rating=correct")).Json(HttpStatusCode.OK)).AsArray());
        Assert.Empty((await (await lab.Owner.GetAsync("/api/models/olga/hello/feedback?version=2")).Json(HttpStatusCode.OK)).AsArray());
        var tomorrow = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ");
        Assert.Empty((await (await lab.Owner.GetAsync($"/api/models/olga/hello/feedback?from={tomorrow}")).Json(HttpStatusCode.OK)).AsArray());
        Assert.Equal(3, (await (await lab.Owner.GetAsync($"/api/models/olga/hello/feedback?to={tomorrow}")).Json(HttpStatusCode.OK)).AsArray().Count);

        // ... and nothing else of carol's runs; nobody but the owner sees the feedback
        await (await lab.Owner.GetAsync($"/api/runs/{run}")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.GetAsync($"/api/runs/{run}/steps/0/responses")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.GetAsync($"/api/runs/{run}/steps/0/feedback")).Json(HttpStatusCode.NotFound);
        await (await lab.Other.GetAsync("/api/models/olga/hello/feedback")).Json(HttpStatusCode.NotFound);
        await (await lab.Consumer.GetAsync("/api/models/olga/hello/feedback")).Json(HttpStatusCode.NotFound);
        await (await lab.Other.GetAsync("/api/models/olga/hello/feedback/export")).Json(HttpStatusCode.NotFound);
        using (var anonymous = lab.Server.Client())
            Assert.NotEqual(HttpStatusCode.OK, (await anonymous.GetAsync("/api/models/olga/hello/feedback")).StatusCode);

        // export: a dataset directory that the dataset checker and the publish accept
        var zip = await lab.Owner.GetAsync("/api/models/olga/hello/feedback/export");
        Assert.Equal(HttpStatusCode.OK, zip.StatusCode);
        Assert.Equal("application/zip", zip.Content.Headers.ContentType!.MediaType);
        var files = new Dictionary<string, byte[]>();
        using (var archive = new ZipArchive(await zip.Content.ReadAsStreamAsync()))
            foreach (var entry in archive.Entries)
            {
                using var s = entry.Open();
                using var m = new MemoryStream();
                await s.CopyToAsync(m);
                files[entry.FullName] = m.ToArray();
            }
        var manifestJson = JsonNode.Parse(files["dataset.json"])!.AsObject();
        var (manifest, errors) = DatasetManifest.Parse(JsonDocument.Parse(files["dataset.json"]).RootElement, _ => null);
        Assert.True(errors.Count == 0, string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(",", e.Value)}")));
        var scan = await DatasetRecords.ScanAsync(new MemoryStream(files["records.jsonl"]), manifest!, p => files.ContainsKey(p) ? null : "missing", default);
        Assert.Equal(3, scan.Count);
        Assert.Empty(scan.Problems);
        var labels = Encoding.UTF8.GetString(files["records.jsonl"]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!["label"]!.GetValue<string>()).ToArray();
        Assert.Equal(["first", "second", "Hello, Ada!"], labels);

        var start = await (await lab.Owner.PostAsJsonAsync("/api/dataset-publishes", new JsonObject
        {
            ["manifest"] = manifestJson.DeepClone(),
            ["files"] = new JsonArray(files.Where(f => f.Key != "dataset.json").Select(f => (JsonNode)new JsonObject
            {
                ["path"] = f.Key, ["size"] = f.Value.Length, ["sha256"] = Http.Sha256(f.Value), ["kind"] = f.Key == "records.jsonl" ? "records" : "file",
            }).ToArray()),
        })).Json(HttpStatusCode.Created);
        using (var uploader = new HttpClient())
            foreach (var upload in start["uploads"]!.AsArray())
            {
                var content = new ByteArrayContent(files[upload!["path"]!.GetValue<string>()]);
                content.Headers.ContentType = new("application/octet-stream");
                await (await uploader.PutAsync(upload["url"]!.GetValue<string>(), content)).Json(HttpStatusCode.NoContent);
            }
        var published = await (await lab.Owner.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
        Assert.Equal(3, published["recordCount"]!.GetValue<long>());
        Assert.Equal("olga-hello-feedback", published["dataset"]!.GetValue<string>());

        // deleting: not by someone else; by the owner
        var id = all[0]!["id"]!.GetValue<string>();
        await (await lab.Other.DeleteAsync($"/api/feedback/{id}")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.DeleteAsync($"/api/feedback/{id}")).Json(HttpStatusCode.NoContent);
        Assert.Equal(2, (await (await lab.Owner.GetAsync("/api/models/olga/hello/feedback")).Json(HttpStatusCode.OK)).AsArray().Count);
    }

    [Fact]
    public async Task A_quota_of_3_steps_refuses_the_4th_with_429_its_limit_and_reset_and_usage_reports_it()
    {
        await using var lab = await Lab.StartAsync();
        await (await lab.Consumer.PutAsJsonAsync("/api/quotas/user/carol", new { stepsPerDay = 3 })).Json(HttpStatusCode.Forbidden);
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/user/nobody", new { stepsPerDay = 3 })).Json(HttpStatusCode.NotFound);
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/user/carol", new { stepsPerDay = -1 })).Json(HttpStatusCode.BadRequest);
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/user/carol", new { stepsPerDay = 3 })).Json(HttpStatusCode.OK);

        for (var i = 0; i < 3; i++) await lab.RunStep0Async(lab.Consumer, Name($"n{i}"));
        var run = await (await lab.Consumer.PostAsJsonAsync("/api/models/olga/hello/runs", new { })).Json(HttpStatusCode.Created);
        var refused = await lab.Consumer.PostAsJsonAsync($"/api/runs/{run["id"]}/steps/0", new { responses = Name("n3") });
        var problem = await refused.Json(HttpStatusCode.TooManyRequests);
        Assert.Equal("stepsPerDay", problem["quota"]!.GetValue<string>());
        Assert.Equal(3, problem["limit"]!.GetValue<double>());
        Assert.Equal(DateTime.UtcNow.Date.AddDays(1), problem["resetsAt"]!.GetValue<DateTime>().ToUniversalTime());
        Assert.Contains("stepsPerDay", problem["detail"]!.GetValue<string>());
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single());
        Assert.InRange(retryAfter, 1, 86400);
        // the refused step never started
        Assert.Equal("awaiting_input", (await (await lab.Consumer.GetAsync($"/api/runs/{run["id"]}")).Json(HttpStatusCode.OK))["steps"]![0]!["status"]!.GetValue<string>());
        // someone else is not limited by carol's quota
        await lab.RunStep0Async(lab.Other, Name("dave"));

        var usage = await (await lab.Consumer.GetAsync("/api/usage")).Json(HttpStatusCode.OK);
        Assert.Equal(3, usage["totals"]!["steps"]!.GetValue<int>());
        Assert.Equal("low", usage["byProfile"]![0]!["key"]!.GetValue<string>());
        Assert.Equal("olga/hello", usage["byModel"]![0]!["key"]!.GetValue<string>());
        var quota = usage["quotas"]![0]!;
        Assert.Equal(3, quota["used"]!.GetValue<double>());
        await (await lab.Consumer.GetAsync("/api/usage?user=dave")).Json(HttpStatusCode.NotFound);
        Assert.Equal(1, (await (await lab.Admin.GetAsync("/api/usage?user=dave")).Json(HttpStatusCode.OK))["totals"]!["steps"]!.GetValue<int>());

        // lifting the quota admits the step
        await (await lab.Admin.DeleteAsync("/api/quotas/user/carol")).Json(HttpStatusCode.NoContent);
        await lab.RunStep0Async(lab.Consumer, Name("n4"));
        var metrics = await (await lab.Server.Client().GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("feather_usage_steps_total{profile=\"low\",owner=\"olga\",outcome=\"succeeded\"}", metrics);
    }

    [Fact]
    public async Task Anonymous_steps_are_usage_with_one_quota_for_all_visitors_and_metrics_name_a_bounded_set_of_owners()
    {
        await using var lab = await Lab.StartAsync(new() { ["Usage:MaxOwnerLabels"] = "1", ["FEATHER_ANON_RUNS_PER_MINUTE"] = "1000" });
        using var anonymous = lab.Server.Client();
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/anonymous/someone", new { stepsPerDay = 2 })).Json(HttpStatusCode.NotFound);
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/visitors/all", new { stepsPerDay = 2 })).Json(HttpStatusCode.BadRequest);
        await (await lab.Admin.PutAsJsonAsync("/api/quotas/anonymous/all", new { stepsPerDay = 2 })).Json(HttpStatusCode.OK);

        await lab.RunStep0Async(anonymous, Name("a0"));
        await lab.RunStep0Async(anonymous, Name("a1"));
        var run = await (await anonymous.PostAsJsonAsync("/api/models/olga/hello/runs", new { })).Json(HttpStatusCode.Created);
        var refused = await anonymous.PostAsJsonAsync($"/api/runs/{run["id"]}/steps/0", new { responses = Name("a2") });
        var problem = await refused.Json(HttpStatusCode.TooManyRequests);
        Assert.Equal("anonymous:all", problem["subject"]!.GetValue<string>());
        Assert.Contains("anonymous visitors", problem["detail"]!.GetValue<string>());
        Assert.NotNull(refused.Headers.RetryAfter);
        // a signed-in user is not held by the anonymous quota
        await lab.RunStep0Async(lab.Consumer, Name("carol"));

        // admins see the anonymous visitors' usage; nobody else does; their own usage has none of it
        var usage = await (await lab.Admin.GetAsync("/api/usage?anonymous=true")).Json(HttpStatusCode.OK);
        Assert.Equal("anonymous:all", usage["subject"]!.GetValue<string>());
        Assert.Equal(2, usage["totals"]!["steps"]!.GetValue<int>());
        Assert.Equal(2, usage["quotas"]![0]!["used"]!.GetValue<double>());
        await (await lab.Consumer.GetAsync("/api/usage?anonymous=true")).Json(HttpStatusCode.Forbidden);
        await (await lab.Admin.GetAsync("/api/usage?anonymous=true&user=carol")).Json(HttpStatusCode.BadRequest);
        Assert.Equal(1, (await (await lab.Consumer.GetAsync("/api/usage")).Json(HttpStatusCode.OK))["totals"]!["steps"]!.GetValue<int>());

        // Prometheus: by profile and owner, at most Usage:MaxOwnerLabels owners named, the rest 'other', never a user
        var owner2 = $"zoe{Guid.NewGuid():N}"[..12];
        using var zoe = lab.Server.Client(await lab.Server.UserTokenAsync(owner2));
        await new TestModel().PublishAsync(zoe, visibility: "public");
        for (var i = 0; i < 100 && (await (await zoe.GetAsync($"/api/models/{owner2}/hello/versions/1")).Json(HttpStatusCode.OK))["image"]!["status"]!.GetValue<string>() != "ready"; i++)
            await Task.Delay(100);
        var zrun = await (await zoe.PostAsJsonAsync($"/api/models/{owner2}/hello/runs", new { })).Json(HttpStatusCode.Created);
        var step = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{zrun["id"]}/steps/0") { Content = JsonContent.Create(new JsonObject { ["responses"] = Name("z") }) };
        step.Headers.Add("Prefer", "wait=30");
        Assert.Equal("succeeded", (await (await zoe.SendAsync(step)).Json(HttpStatusCode.OK))["status"]!.GetValue<string>());
        var metrics = await (await lab.Server.Client().GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("feather_usage_steps_total{profile=\"low\",owner=\"olga\",outcome=\"succeeded\"}", metrics);
        Assert.Contains("feather_usage_steps_total{profile=\"low\",owner=\"other\",outcome=\"succeeded\"}", metrics);
        Assert.DoesNotContain(owner2, metrics);
        Assert.DoesNotContain("carol", metrics);
        Assert.Contains("feather_usage_quota_refusals_total{quota=\"stepsPerDay\"}", metrics);
    }

    /// <summary>TestModel with step 0 taking uploaded files (as File.Upload's response).</summary>
    private static TestModel UploadModel(string task = "text-generation") => new()
    {
        Task = task,
        Customize = m =>
        {
            var schema = JsonNode.Parse("""{"type": "object", "required": ["files"], "additionalProperties": false, "properties": {"files": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "object", "required": ["name", "data"], "properties": {"name": {"type": "string"}, "media_type": {"type": "string"}, "data": {"type": "string", "contentEncoding": "base64"}}}}}}""");
            foreach (var input in new[] { m["init"]![0]!, m["steps"]![0]!["inputs"]![0]! })
            {
                input["component"] = "File.Upload";
                input["props"] = new JsonObject();
                input["schema"] = new JsonObject { ["value"] = null, ["response"] = schema!.DeepClone() };
            }
        },
    };

    private static JsonObject Upload(int n, int bytes) => new()
    {
        ["name"] = new JsonObject
        {
            ["files"] = new JsonArray(new JsonObject
            {
                ["name"] = $"f{n}.bin", ["media_type"] = "application/octet-stream",
                ["data"] = Convert.ToBase64String(Enumerable.Range(0, bytes).Select(i => (byte)((i * 31 + n) % 251)).ToArray()),
            }),
        },
    };

    [Fact]
    public async Task Expired_anonymous_runs_and_their_uploads_go_in_the_sweep_shared_feedback_stays_and_the_database_stays_bounded()
    {
        await using var lab = await Lab.StartAsync(new() { ["Retention:AnonymousRunHours"] = "1", ["Retention:UserRunDays"] = "30", ["FEATHER_ANON_RUNS_PER_MINUTE"] = "1000" }, UploadModel());
        using var anonymous = lab.Server.Client();
        var retention = lab.Server.Services.GetRequiredService<RetentionService>();
        var database = Path.Combine(lab.Server.DataDirectory, "feather.db");
        long Size() => new DirectoryInfo(lab.Server.DataDirectory).EnumerateFiles("feather*.db").Sum(f => f.Length);

        var kept = await lab.RunStep0Async(lab.Consumer, Upload(999, 1000)); // a signed-in run: kept for 30 days
        string? shared = null;
        var sizes = new List<long>();
        for (var round = 0; round < 3; round++)
        {
            var runs = new List<string>();
            for (var i = 0; i < 25; i++) runs.Add(await lab.RunStep0Async(anonymous, Upload(round * 100 + i, 60_000)));
            if (round == 0)
            {
                shared = runs[0];
                await (await anonymous.PostAsJsonAsync($"/api/runs/{shared}/steps/0/feedback", new { output = "echo", rating = "incorrect", comment = "wrong" }))
                    .Json(HttpStatusCode.Created);
            }
            var sweep = await retention.SweepAsync(DateTime.UtcNow.AddHours(2));
            Assert.Equal(25, sweep.RunsRemoved);
            Assert.True(sweep.BytesRemoved > 25 * 60_000, $"{sweep.BytesRemoved} bytes removed");
            foreach (var id in runs) await (await anonymous.GetAsync($"/api/runs/{id}")).Json(HttpStatusCode.NotFound);
            sizes.Add(Size());
        }
        Assert.True(File.Exists(database));
        // freed pages are reused: the third round does not grow the file beyond the first by more than a quarter
        Assert.True(sizes[2] <= sizes[0] * 1.25, $"database sizes after each sweep: {string.Join(", ", sizes)}");

        // the signed-in run is not expired yet; the feedback on an expired run still shows the owner its inputs
        await (await lab.Consumer.GetAsync($"/api/runs/{kept}")).Json(HttpStatusCode.OK);
        var feedback = (await (await lab.Owner.GetAsync("/api/models/olga/hello/feedback")).Json(HttpStatusCode.OK)).AsArray();
        Assert.Equal(shared, Assert.Single(feedback)!["runId"]!.GetValue<string>());
        Assert.Equal("f0.bin", feedback[0]!["inputs"]!["name"]!["files"]![0]!["name"]!.GetValue<string>());

        // a user deletes their own run; nobody else can
        await (await lab.Other.DeleteAsync($"/api/runs/{kept}")).Json(HttpStatusCode.NotFound);
        await (await lab.Consumer.DeleteAsync($"/api/runs/{kept}")).Json(HttpStatusCode.NoContent);
        await (await lab.Consumer.GetAsync($"/api/runs/{kept}")).Json(HttpStatusCode.NotFound);
        // the admin's sweep endpoint
        Assert.Equal(0, (await (await lab.Admin.PostAsync("/api/admin/retention/sweep", null)).Json(HttpStatusCode.OK))["runsRemoved"]!.GetValue<int>());
        await (await lab.Consumer.PostAsync("/api/admin/retention/sweep", null)).Json(HttpStatusCode.Forbidden);

        // the blob store drops a file nothing refers to (left by a publish that failed after storing it) and keeps the model's
        var blobs = lab.Server.Services.GetRequiredService<Feather.Server.Blobs.FileSystemBlobStore>();
        var modelFiles = (await (await lab.Owner.GetAsync("/api/models/olga/hello/versions/1")).Json(HttpStatusCode.OK))["files"]!.AsArray()
            .Select(f => f!["sha256"]!.GetValue<string>()).ToList();
        Assert.NotEmpty(modelFiles);
        var orphanBytes = Encoding.UTF8.GetBytes("left behind by a failed publish " + Guid.NewGuid());
        var orphan = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(orphanBytes));
        Directory.CreateDirectory(Path.GetDirectoryName(blobs.BlobPath(orphan))!);
        await File.WriteAllBytesAsync(blobs.BlobPath(orphan), orphanBytes);
        var dropped = await (await lab.Admin.PostAsync("/api/admin/retention/sweep", null)).Json(HttpStatusCode.OK);
        Assert.Equal(1, dropped["blobsRemoved"]!.GetValue<int>());
        Assert.Equal(orphanBytes.Length, dropped["blobBytesRemoved"]!.GetValue<long>());
        Assert.False(File.Exists(blobs.BlobPath(orphan)));
        foreach (var sha in modelFiles) Assert.True(File.Exists(blobs.BlobPath(sha)), sha);
        Assert.Equal(modelFiles.Distinct().Count(), blobs.List().Count);
    }

    [Fact]
    public async Task Drift_statistics_change_when_the_inputs_change_and_only_the_owner_sees_them()
    {
        await using var lab = await Lab.StartAsync(new() { ["Monitoring:ReferenceRuns"] = "4", ["Monitoring:MinCount"] = "3" });
        for (var i = 0; i < 4; i++) await lab.RunStep0Async(lab.Consumer, Name($"Al{i}"));           // reference: short names
        var flat = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring")).Json(HttpStatusCode.OK);
        var length = flat["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == "0/input/name/length")!;
        Assert.Equal(4, length["referenceCount"]!.GetValue<int>());
        Assert.Empty(length["days"]!.AsArray());

        for (var i = 0; i < 5; i++) await lab.RunStep0Async(lab.Other, Name(new string('x', 150 + i)));  // then long ones
        var view = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?version=1")).Json(HttpStatusCode.OK);
        Assert.Equal("psi", view["method"]!.GetValue<string>());
        length = view["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == "0/input/name/length")!;
        Assert.InRange(length["referenceMean"]!.GetValue<double>(), 3, 3);
        var day = Assert.Single(length["days"]!.AsArray())!;
        Assert.Equal(5, day["count"]!.GetValue<int>());
        Assert.InRange(day["mean"]!.GetValue<double>(), 150, 155);
        Assert.True(length["score"]!.GetValue<double>() > 0.2, length.ToJsonString());
        Assert.True(length["drifted"]!.GetValue<bool>());
        // a feature whose distribution did not move is not flagged: the choices offered are always three
        var items = view["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == "0/output/choices/items")!;
        Assert.False(items["drifted"]!.GetValue<bool>(), items.ToJsonString());
        var health = Assert.Single(view["health"]!.AsArray())!;
        Assert.Equal(9, health["steps"]!.GetValue<int>());
        Assert.Equal(0, health["failed"]!.GetValue<int>());

        await (await lab.Consumer.GetAsync("/api/models/olga/hello/monitoring")).Json(HttpStatusCode.NotFound);
        await (await lab.Other.GetAsync("/api/models/olga/hello/monitoring")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?version=7")).Json(HttpStatusCode.NotFound);
    }

    private static byte[] Png(SkiaSharp.SKColor color, int width)
    {
        using var bitmap = new SkiaSharp.SKBitmap(width, 40);
        bitmap.Erase(color);
        using var image = SkiaSharp.SKImage.FromBitmap(bitmap);
        return image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray();
    }

    private static JsonObject Picture(SkiaSharp.SKColor color, int width)
    {
        var png = Png(color, width);
        return new JsonObject
        {
            ["name"] = new JsonObject
            {
                ["files"] = new JsonArray(new JsonObject { ["name"] = "p.png", ["media_type"] = "image/png", ["data"] = Convert.ToBase64String(png) }),
            },
        };
    }

    [Fact]
    public async Task Two_batches_of_different_images_drift_in_brightness_and_width()
    {
        await using var lab = await Lab.StartAsync(new() { ["Monitoring:ReferenceRuns"] = "4", ["Monitoring:MinCount"] = "3" }, UploadModel());
        for (var i = 0; i < 4; i++) await lab.RunStep0Async(lab.Consumer, Picture(new SkiaSharp.SKColor(20, 20, 30), 60 + i));   // dark, narrow
        for (var i = 0; i < 5; i++) await lab.RunStep0Async(lab.Consumer, Picture(new SkiaSharp.SKColor(240, 235, 220), 600 + i)); // bright, wide
        var view = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring")).Json(HttpStatusCode.OK);
        JsonNode Feature(string key) => view["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == key)!;
        var brightness = Feature("0/input/name/brightness");
        Assert.InRange(brightness["referenceMean"]!.GetValue<double>(), 15, 30);
        Assert.InRange(brightness["days"]![0]!["mean"]!.GetValue<double>(), 225, 245);
        Assert.True(brightness["drifted"]!.GetValue<bool>(), brightness.ToJsonString());
        Assert.True(Feature("0/input/name/width")["drifted"]!.GetValue<bool>());
        Assert.False(Feature("0/input/name/height")["drifted"]!.GetValue<bool>()); // every picture is 40 high
        // aggregates only: no single image's values, only binned proportions of at least MinCount observations
        Assert.DoesNotContain("\"data\"", view.ToJsonString()); // no image travels in the view
        Assert.All(brightness["reference"]!.AsArray(), p => Assert.True(p!.GetValue<double>() is 0 or >= 0.75));
    }

    /// <summary>Six bright, wide PNG images of one class: a real image dataset for the reference window.</summary>
    private static TestDataset BrightImages(string name, string task = "image-classification") => new()
    {
        Name = name, Task = task,
        Files = new Dictionary<string, byte[]>
        {
            ["records.csv"] = Encoding.UTF8.GetBytes("image,label\n" + string.Concat(Enumerable.Range(0, 6).Select(i => $"images/{i}.png,{i % 2}\n"))),
        }.Concat(Enumerable.Range(0, 6).Select(i => KeyValuePair.Create($"images/{i}.png", Png(new SkiaSharp.SKColor(240, 235, 220), 600 + i))))
            .ToDictionary(),
    };

    [Fact]
    public async Task A_dataset_of_the_models_task_is_a_reference_window_and_other_datasets_are_refused()
    {
        await using var lab = await Lab.StartAsync(new() { ["Monitoring:ReferenceRuns"] = "4", ["Monitoring:MinCount"] = "3" },
            UploadModel("image-classification"));
        await BrightImages("bright").PublishAsync(lab.Owner);
        for (var i = 0; i < 5; i++) await lab.RunStep0Async(lab.Consumer, Picture(new SkiaSharp.SKColor(20, 20, 30), 60 + i)); // dark, narrow

        // against its first runs, the version has not drifted (and no later day holds enough runs yet)
        var runs = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring")).Json(HttpStatusCode.OK);
        Assert.Equal("runs", runs["reference"]!.GetValue<string>());
        Assert.Null(runs["referenceDataset"]);
        Assert.DoesNotContain(runs["features"]!.AsArray(), f => f!["drifted"]!.GetValue<bool>());

        // against the dataset of bright, wide images, every run counts and brightness and width drifted; height did not
        var view = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=olga/bright")).Json(HttpStatusCode.OK);
        Assert.Equal("dataset", view["reference"]!.GetValue<string>());
        Assert.Equal("olga/bright@1", view["referenceDataset"]!.GetValue<string>());
        Assert.Equal(6, view["referenceSize"]!.GetValue<int>());
        JsonNode Feature(string key) => view["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == key)!;
        var brightness = Feature("0/input/name/brightness");
        Assert.Equal(6, brightness["referenceCount"]!.GetValue<int>());
        Assert.InRange(brightness["referenceMean"]!.GetValue<double>(), 225, 245);
        var day = Assert.Single(brightness["days"]!.AsArray())!;
        Assert.Equal(5, day["count"]!.GetValue<int>());
        Assert.InRange(day["mean"]!.GetValue<double>(), 15, 30);
        Assert.True(brightness["drifted"]!.GetValue<bool>(), brightness.ToJsonString());
        Assert.True(Feature("0/input/name/width")["drifted"]!.GetValue<bool>());
        Assert.False(Feature("0/input/name/height")["drifted"]!.GetValue<bool>());
        // a statistic the dataset has no field for (the number of files uploaded) has no reference and no score
        var count = Feature("0/input/name/count");
        Assert.Equal(0, count["referenceCount"]!.GetValue<int>());
        Assert.Null(count["score"]);
        Assert.DoesNotContain("\"data\"", view.ToJsonString());
        // read once, then kept: the same answer again
        var again = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=olga/bright@1")).Json(HttpStatusCode.OK);
        Assert.Equal(brightness.ToJsonString(), again["features"]!.AsArray().Single(f => f!["feature"]!.GetValue<string>() == "0/input/name/brightness")!.ToJsonString());

        // a dataset of another task, another user's private dataset, a missing version, a malformed reference
        await BrightImages("texts", "text-classification").PublishAsync(lab.Owner);
        var wrongTask = await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=olga/texts")).Json(HttpStatusCode.BadRequest);
        Assert.Contains("image-classification", wrongTask["detail"]!.GetValue<string>());
        await BrightImages("dave-private").PublishAsync(lab.Other, visibility: "private");
        await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=dave/dave-private")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=olga/bright@9")).Json(HttpStatusCode.NotFound);
        await (await lab.Owner.GetAsync("/api/models/olga/hello/monitoring?reference=bright")).Json(HttpStatusCode.BadRequest);
        // the consumer still sees nothing
        await (await lab.Consumer.GetAsync("/api/models/olga/hello/monitoring?reference=olga/bright")).Json(HttpStatusCode.NotFound);
    }
}

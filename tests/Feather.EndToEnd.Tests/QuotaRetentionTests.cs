using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Feather.EndToEnd.Tests;

/// <summary>
/// The product as shipped (bin/feather-server, bin/feather, real containers of samples/vqg): a quota of 3 steps refuses
/// the 4th with 429, its limit and reset time; expired anonymous runs with their uploads are gone after the sweep while
/// the feedback shared on one of them stays with its inputs.
/// </summary>
public sealed class QuotaRetentionTests
{
    [Fact]
    public async Task A_quota_of_3_steps_refuses_the_4th_and_the_sweep_removes_expired_anonymous_runs_but_keeps_shared_feedback()
    {
        // anonymous runs expire 2 seconds after their last step; the periodic sweep waits 10 hours (the test calls it)
        var server = new FeatherServer(new Dictionary<string, string>
        {
            ["Retention__AnonymousRunHours"] = (2.0 / 3600).ToString(CultureInfo.InvariantCulture),
            ["Retention__SweepMinutes"] = "600",
            ["FEATHER_ANON_RUNS_PER_MINUTE"] = "1000",
        });
        await server.InitializeAsync();
        try
        {
            var publish = await server.Cli("publish", "samples/vqg", "--visibility", "public", "--wait");
            Assert.True(publish.ExitCode == 0 && publish.Stdout.Contains("image: ready"), publish.ToString());
            // the CLI's login has no admin scope: an admin token for the admin's calls
            using var admin = new HttpClient { BaseAddress = new Uri(server.Url) };
            var token = await (await admin.PostAsJsonAsync("/api/auth/tokens",
                new { username = "admin", password = server.AdminPassword, name = "quota-sweep", scopes = new[] { "read", "admin" } })).Content.ReadFromJsonAsync<JsonObject>();
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token!["token"]!.GetValue<string>());
            using (var quota = await admin.PutAsJsonAsync("/api/quotas/anonymous/all", new { stepsPerDay = 3 }))
                Assert.Equal(HttpStatusCode.OK, quota.StatusCode);

            using var anonymous = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromMinutes(5) };
            async Task<string> NewRun() =>
                (await (await anonymous.PostAsJsonAsync("/api/models/admin/vqg/runs", new { })).Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
            async Task<HttpResponseMessage> Detect(string run, int n)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/runs/{run}/steps/0")
                {
                    Content = JsonContent.Create(new JsonObject
                    {
                        ["responses"] = new JsonObject { ["images"] = TestImages.Upload($"upload-{n}.png", TestImages.Png(64 + n, 48, (byte)(40 * n), 90, 160)) },
                    }),
                };
                request.Headers.Add("Prefer", "wait=240");
                return await anonymous.SendAsync(request);
            }

            var runs = new List<string>();
            for (var n = 0; n < 3; n++)
            {
                var id = await NewRun();
                using var ok = await Detect(id, n);
                var step = await ok.Content.ReadFromJsonAsync<JsonObject>();
                Assert.True(ok.StatusCode == HttpStatusCode.OK && step!["status"]!.GetValue<string>() == "succeeded", step?.ToJsonString());
                runs.Add(id);
            }

            // the 4th step is refused before it starts: 429, Retry-After, the quota, its limit and when it resets
            var fourth = await NewRun();
            runs.Add(fourth);
            using (var refused = await Detect(fourth, 3))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                var problem = (await refused.Content.ReadFromJsonAsync<JsonObject>())!;
                Assert.Equal("stepsPerDay", problem["quota"]!.GetValue<string>());
                Assert.Equal("anonymous:all", problem["subject"]!.GetValue<string>());
                Assert.Equal(3, problem["limit"]!.GetValue<double>());
                Assert.Equal(DateTime.UtcNow.Date.AddDays(1), problem["resetsAt"]!.GetValue<DateTime>().ToUniversalTime());
                var retryAfter = refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
                Assert.InRange(retryAfter, 1, 86_400);
            }
            var waiting = await anonymous.GetFromJsonAsync<JsonObject>($"/api/runs/{fourth}");
            Assert.Equal("awaiting_input", waiting!["steps"]![0]!["status"]!.GetValue<string>());
            var usage = await admin.GetFromJsonAsync<JsonObject>("/api/usage?anonymous=true");
            Assert.Equal(3, usage!["totals"]!["steps"]!.GetValue<int>());

            // feedback on the first run's detections shares that step with the owner
            var first = await anonymous.GetFromJsonAsync<JsonObject>($"/api/runs/{runs[0]}");
            var output = first!["steps"]![0]!["outputs"]![0]!["name"]!.GetValue<string>();
            using (var given = await anonymous.PostAsJsonAsync($"/api/runs/{runs[0]}/steps/0/feedback", new { output, rating = "incorrect", comment = "no face here" }))
                Assert.Equal(HttpStatusCode.Created, given.StatusCode);

            // two seconds later every anonymous run has expired: the admin's sweep removes them with their uploads
            await Task.Delay(TimeSpan.FromSeconds(3));
            using var swept = await admin.PostAsync("/api/admin/retention/sweep", null);
            var sweep = (await swept.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.True(swept.StatusCode == HttpStatusCode.OK, sweep.ToJsonString());
            Assert.Equal(4, sweep["runsRemoved"]!.GetValue<int>());
            Assert.True(sweep["bytesRemoved"]!.GetValue<long>() > 0, sweep.ToJsonString());
            foreach (var id in runs)
                Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/api/runs/{id}")).StatusCode);

            // the shared feedback stays, with the upload it was given on (the owner reads it with the CLI)
            var list = await server.Cli("feedback", "list", "admin/vqg", "--json");
            Assert.True(list.ExitCode == 0, list.ToString());
            var feedback = Assert.Single(JsonNode.Parse(list.Stdout)!.AsArray())!;
            Assert.Equal(runs[0], feedback["runId"]!.GetValue<string>());
            Assert.Equal("upload-0.png", feedback["inputs"]!["images"]!["files"]![0]!["name"]!.GetValue<string>());
            Assert.Equal("no face here", feedback["comment"]!.GetValue<string>());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}

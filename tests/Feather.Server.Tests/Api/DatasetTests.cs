using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>Datasets through the HTTP API: publish, versions, visibility, teams, validation and dedup.</summary>
public class DatasetTests : IAsyncLifetime
{
    private FeatherTestServer _server = null!;
    private HttpClient _owner = null!, _member = null!, _other = null!, _anonymous = null!;

    public async Task InitializeAsync()
    {
        _server = await FeatherTestServer.StartAsync();
        _owner = _server.Client(await _server.UserTokenAsync("olivia"));
        _member = _server.Client(await _server.UserTokenAsync("max"));
        _other = _server.Client(await _server.UserTokenAsync("oscar"));
        _anonymous = _server.Client();
        await (await _owner.PostAsJsonAsync("/api/teams", new { name = "vision-lab" })).Json(HttpStatusCode.Created);
        await (await _owner.PostAsJsonAsync("/api/teams/vision-lab/members", new { username = "max" })).Json(HttpStatusCode.OK);
    }

    public async Task DisposeAsync()
    {
        foreach (var c in new[] { _owner, _member, _other, _anonymous }) c.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_published_dataset_shows_its_fields_record_count_examples_and_files()
    {
        var done = await new TestDataset().PublishAsync(_owner, visibility: "public");
        Assert.Equal(1, done["version"]!.GetValue<int>());
        Assert.Equal(3, done["recordCount"]!.GetValue<long>());
        Assert.Equal("/api/datasets/olivia/digits-mini/versions/1", done["url"]!.GetValue<string>());

        var detail = await (await _anonymous.GetAsync("/api/datasets/olivia/digits-mini")).Json(HttpStatusCode.OK);
        Assert.Equal("image-classification", detail["task"]!.GetValue<string>());
        Assert.Equal("Digits (mini)", detail["title"]!.GetValue<string>());
        Assert.Equal("BSD-3-Clause", detail["licence"]!.GetValue<string>());
        Assert.Equal(3, detail["recordCount"]!.GetValue<long>());
        Assert.Equal(["input", "label"], detail["fields"]!.AsArray().Select(f => f!["role"]!.GetValue<string>()));
        var first = detail["examples"]![0]!;
        Assert.Equal("images/0.png", first["image"]!.GetValue<string>());
        Assert.Equal("0", first["label"]!.GetValue<string>()); // a reader of the dataset sees its labels
        Assert.Single(detail["versions"]!.AsArray());

        var image = await _anonymous.GetAsync("/api/datasets/olivia/digits-mini/versions/1/file?path=images/1.png");
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType!.MediaType);
        Assert.Equal(TestDataset.Image(1), await image.Content.ReadAsByteArrayAsync());
        var csv = await _anonymous.GetAsync("/api/datasets/olivia/digits-mini/versions/1/file?path=records.csv");
        Assert.Equal("application/octet-stream", csv.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment", csv.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.GetAsync("/api/datasets/olivia/digits-mini/versions/1/file?path=../feather.db")).StatusCode);

        var list = await (await _anonymous.GetAsync("/api/datasets?task=image-classification")).Json(HttpStatusCode.OK);
        Assert.Contains(list.AsArray(), d => d!["name"]!.GetValue<string>() == "digits-mini");
        Assert.Empty((await (await _anonymous.GetAsync("/api/datasets?task=regression")).Json(HttpStatusCode.OK)).AsArray());
    }

    [Fact]
    public async Task Every_publish_is_a_new_version_and_old_versions_stay_as_they_were()
    {
        await new TestDataset().PublishAsync(_owner);
        var more = TestDataset.Default();
        more["records.csv"] = Encoding.UTF8.GetBytes("image,label\nimages/0.png,1\nimages/1.png,0\nimages/2.png,0\nimages/3.png,1\n");
        more["images/3.png"] = TestDataset.Image(3);
        var second = await new TestDataset { Files = more }.PublishAsync(_owner);
        Assert.Equal(2, second["version"]!.GetValue<int>());

        var v1 = await (await _owner.GetAsync("/api/datasets/olivia/digits-mini/versions/1")).Json(HttpStatusCode.OK);
        var v2 = await (await _owner.GetAsync("/api/datasets/olivia/digits-mini/versions/2")).Json(HttpStatusCode.OK);
        Assert.Equal(3, v1["recordCount"]!.GetValue<long>());
        Assert.Equal("0", v1["examples"]![0]!["label"]!.GetValue<string>());
        Assert.Equal(4, v2["recordCount"]!.GetValue<long>());
        Assert.Equal("1", v2["examples"]![0]!["label"]!.GetValue<string>());
        Assert.Equal(4, v1["files"]!.AsArray().Count);
        Assert.Equal(HttpStatusCode.NotFound, (await _owner.GetAsync("/api/datasets/olivia/digits-mini/versions/1/file?path=images/3.png")).StatusCode);
        var versions = await (await _owner.GetAsync("/api/datasets/olivia/digits-mini/versions")).Json(HttpStatusCode.OK);
        Assert.Equal([2, 1], versions.AsArray().Select(v => v!["number"]!.GetValue<int>()));
        Assert.Equal(4, (await (await _owner.GetAsync("/api/datasets/olivia/digits-mini")).Json(HttpStatusCode.OK))["recordCount"]!.GetValue<long>());
        Assert.Equal(HttpStatusCode.NotFound, (await _owner.GetAsync("/api/datasets/olivia/digits-mini/versions/3")).StatusCode);
    }

    [Fact]
    public async Task A_private_team_dataset_is_404_to_others_and_open_to_its_team()
    {
        await new TestDataset { Name = "secret-digits" }.PublishAsync(_owner, owner: "vision-lab");
        const string path = "/api/datasets/vision-lab/secret-digits";
        foreach (var insider in new[] { _owner, _member })
        {
            await (await insider.GetAsync(path)).Json(HttpStatusCode.OK);
            Assert.Equal(HttpStatusCode.OK, (await insider.GetAsync($"{path}/versions/1/file?path=images/0.png")).StatusCode);
            Assert.Contains("secret-digits", await insider.GetStringAsync("/api/datasets"));
        }
        foreach (var outsider in new[] { _other, _anonymous })
        {
            foreach (var p in new[] { path, $"{path}/versions", $"{path}/versions/1", $"{path}/versions/1/file?path=images/0.png" })
                Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync(p)).StatusCode);
            Assert.DoesNotContain("secret-digits", await outsider.GetStringAsync("/api/datasets"));
        }
        Assert.Equal(HttpStatusCode.NotFound, (await _other.PatchAsJsonAsync(path, new { visibility = "public" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _other.PostAsJsonAsync("/api/dataset-publishes", new TestDataset { Name = "secret-digits" }.StartBody(owner: "vision-lab"))).StatusCode);

        // a team member publishes the next version and makes it unlisted: readable by link, not listed
        await new TestDataset { Name = "secret-digits" }.PublishAsync(_member, owner: "vision-lab");
        var changed = await (await _member.PatchAsJsonAsync(path, new { visibility = "unlisted", description = "Now shared by link." })).Json(HttpStatusCode.OK);
        Assert.Equal("unlisted", changed["visibility"]!.GetValue<string>());
        Assert.Equal("Now shared by link.", (await (await _other.GetAsync(path)).Json(HttpStatusCode.OK))["description"]!.GetValue<string>());
        Assert.DoesNotContain("secret-digits", await _other.GetStringAsync("/api/datasets"));
        Assert.Equal(HttpStatusCode.Forbidden, (await _other.PatchAsJsonAsync(path, new { visibility = "public" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _member.PatchAsJsonAsync(path, new { visibility = "everyone" })).StatusCode);
    }

    [Fact]
    public async Task A_manifest_error_names_the_field()
    {
        async Task<JsonNode> Refused(TestDataset dataset) =>
            await (await _owner.PostAsJsonAsync("/api/dataset-publishes", dataset.StartBody())).Json(HttpStatusCode.BadRequest);

        var task = await Refused(new TestDataset { Customize = m => m["task"] = "image-generation" });
        Assert.Contains("image-classification", task["errors"]!["manifest/task"]![0]!.GetValue<string>());
        var noLabel = await Refused(new TestDataset { Customize = m => m["fields"]![1]!["role"] = "input" });
        Assert.Contains("no field has role 'label'", noLabel["errors"]!["manifest/fields"]![0]!.GetValue<string>());
        var escape = await Refused(new TestDataset { Customize = m => m["records"] = "../other/records.csv" });
        Assert.Contains("'..'", escape["errors"]!["manifest/records"]![0]!.GetValue<string>());
        var type = await Refused(new TestDataset { Customize = m => m["fields"]![0]!["type"] = "picture" });
        Assert.Contains("text, number, integer, label, file, image", type["errors"]!["manifest/fields/0/type"]![0]!.GetValue<string>());
        var name = await Refused(new TestDataset { Name = "Digits Mini" });
        Assert.Contains("lowercase", name["errors"]!["manifest/name"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task A_record_error_names_the_line_and_field_and_records_nothing()
    {
        var files = TestDataset.Default();
        files["records.csv"] = Encoding.UTF8.GetBytes("image,label\nimages/0.png,0\nimages/1.png,7\nimages/9.png,1\nimages/2.png,\n");
        var dataset = new TestDataset { Files = files };
        var start = await dataset.StartAsync(_owner);
        await dataset.UploadAllAsync(start);
        var refused = await (await _owner.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).Json(HttpStatusCode.BadRequest);
        var problems = refused["errors"]!["records/records.csv"]!.AsArray().Select(p => p!.GetValue<string>()).ToList();
        Assert.Contains(problems, p => p.StartsWith("line 3, field 'label': '7' is not one of the declared classes", StringComparison.Ordinal));
        Assert.Contains("line 4, field 'image': 'images/9.png': no such file among the dataset's files", problems);
        Assert.Contains("line 5, field 'label': the label is empty", problems);
        Assert.Equal(HttpStatusCode.NotFound, (await _owner.GetAsync("/api/datasets/olivia/digits-mini")).StatusCode);
        // the refused publish is closed
        Assert.Equal(HttpStatusCode.NotFound, (await _owner.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).StatusCode);
    }

    [Fact]
    public async Task Example_records_keep_long_texts_short_while_the_records_file_keeps_them_whole()
    {
        var longText = new string('a', 5000);
        var records = Encoding.UTF8.GetBytes($"{{\"text\": \"{longText}\", \"score\": 4.5}}\n");
        var dataset = new TestDataset
        {
            Name = "long-reviews", Task = "regression", Files = new() { ["records.jsonl"] = records }, Records = "records.jsonl",
            Customize = m => m["fields"] = new JsonArray(
                new JsonObject { ["name"] = "text", ["type"] = "text", ["role"] = "input" },
                new JsonObject { ["name"] = "score", ["type"] = "number", ["role"] = "label" }),
        };
        await dataset.PublishAsync(_owner);
        var detail = await (await _owner.GetAsync("/api/datasets/olivia/long-reviews")).Json(HttpStatusCode.OK);
        Assert.Equal(1000, detail["examples"]![0]!["text"]!.GetValue<string>().Length);
        Assert.Equal(4.5, detail["examples"]![0]!["score"]!.GetValue<double>());
        var file = await _owner.GetByteArrayAsync("/api/datasets/olivia/long-reviews/versions/1/file?path=records.jsonl");
        Assert.Equal(records, file);
    }

    [Fact]
    public async Task Json_lines_records_are_checked_per_key()
    {
        var files = new Dictionary<string, byte[]>
        {
            ["records.jsonl"] = Encoding.UTF8.GetBytes("{\"text\": \"good film\", \"score\": 4.5}\n{\"text\": \"bad film\"}\n{\"text\": 3, \"score\": 1}\n"),
        };
        var dataset = new TestDataset
        {
            Name = "reviews", Task = "regression", Files = files, Records = "records.jsonl",
            Customize = m => m["fields"] = new JsonArray(
                new JsonObject { ["name"] = "text", ["type"] = "text", ["role"] = "input" },
                new JsonObject { ["name"] = "score", ["type"] = "number", ["role"] = "label" }),
        };
        var start = await dataset.StartAsync(_owner);
        await dataset.UploadAllAsync(start);
        var refused = await (await _owner.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).Json(HttpStatusCode.BadRequest);
        var problems = refused["errors"]!["records/records.jsonl"]!.AsArray().Select(p => p!.GetValue<string>()).ToList();
        Assert.Equal(["line 2, field 'score': missing", "line 3, field 'text': must be a string"], problems);
    }

    [Fact]
    public async Task Files_the_caller_already_holds_are_not_uploaded_again_but_others_files_are()
    {
        await new TestDataset().PublishAsync(_owner);
        var again = await new TestDataset().StartAsync(_owner);
        Assert.Empty(again["uploads"]!.AsArray());
        Assert.Equal(4, again["alreadyStored"]!.AsArray().Count);

        // the same bytes published by someone else: knowing the hashes gives no access, so everything is uploaded
        var other = await new TestDataset().StartAsync(_other);
        Assert.Equal(4, other["uploads"]!.AsArray().Count);
        Assert.Empty(other["alreadyStored"]!.AsArray());

        // a model's publish cannot complete a dataset's publish
        Assert.Equal(HttpStatusCode.NotFound, (await _owner.PostAsync($"/api/publish/{again["publishId"]}/complete", null)).StatusCode);
        var done = await (await _owner.PostAsync($"/api/dataset-publishes/{again["publishId"]}/complete", null)).Json(HttpStatusCode.Created);
        Assert.Equal(2, done["version"]!.GetValue<int>());
    }

    [Fact]
    public async Task Missing_uploads_and_limits_are_refused_like_models()
    {
        var start = await new TestDataset().StartAsync(_owner);
        var conflict = await (await _owner.PostAsync($"/api/dataset-publishes/{start["publishId"]}/complete", null)).Json(HttpStatusCode.Conflict);
        Assert.Equal(4, conflict["missing"]!.AsArray().Count);

        var body = new TestDataset().StartBody();
        body["files"]![1]!["kind"] = "code";
        var kind = await (await _owner.PostAsJsonAsync("/api/dataset-publishes", body)).Json(HttpStatusCode.BadRequest);
        Assert.Contains("'kind' must be 'records' or 'file'", kind["errors"]!["files/1"]![0]!.GetValue<string>());
    }
}

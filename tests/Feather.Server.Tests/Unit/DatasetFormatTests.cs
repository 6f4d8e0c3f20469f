using System.Text;
using System.Text.Json;
using Feather.Datasets;

namespace Feather.Server.Tests.Unit;

/// <summary>Feather.Datasets: the manifest rules and the streaming record reader, without a server.</summary>
public class DatasetFormatTests
{
    private static DatasetManifest Manifest(string records, params DatasetField[] fields)
    {
        var json = JsonSerializer.SerializeToElement(new
        {
            name = "t", description = "", task = "text-classification", records,
            fields = fields.Select(f => new { name = f.Name, type = f.Type, role = f.Role }),
        });
        var (manifest, errors) = DatasetManifest.Parse(json, _ => null);
        Assert.True(manifest is not null, string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        return manifest;
    }

    private static readonly DatasetField Text = new("text", "text", "input");
    private static readonly DatasetField Label = new("label", "label", "label");

    private static Task<RecordScan> Scan(DatasetManifest manifest, string content) =>
        DatasetRecords.ScanAsync(new MemoryStream(Encoding.UTF8.GetBytes(content)), manifest, _ => null);

    [Theory]
    [InlineData(null, "test", true)]
    [InlineData("test", "test", true)]
    [InlineData("train", "train", false)]
    public void A_split_defaults_to_test_and_only_held_out_data_is_evaluated_without_being_asked(string? split, string expected, bool paired)
    {
        var json = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
        {
            ["name"] = "t", ["description"] = "", ["task"] = "text-classification", ["records"] = "r.csv",
            ["fields"] = new[] { new { name = "text", type = "text", role = "input" }, new { name = "label", type = "label", role = "label" } },
            ["split"] = split,
        }.Where(kv => kv.Value is not null).ToDictionary());
        var (manifest, errors) = DatasetManifest.Parse(json, _ => null);
        Assert.True(manifest is not null, string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        Assert.Equal(expected, manifest.SplitOrDefault);
        var model = new Feather.Server.Models.ModelRecord { Owner = "ada" };
        var dataset = new Feather.Server.Datasets.DatasetRecord { Owner = "ada", Visibility = "public", Split = manifest.SplitOrDefault };
        Assert.Equal(paired, Feather.Server.Evaluations.EvaluationService.AutomaticallyPaired(model, dataset));
    }

    [Fact]
    public void An_unknown_split_is_refused_naming_the_choices()
    {
        var json = JsonSerializer.SerializeToElement(new
        {
            name = "t", description = "", task = "text-classification", records = "r.csv", split = "validation",
            fields = new[] { new { name = "text", type = "text", role = "input" }, new { name = "label", type = "label", role = "label" } },
        });
        var (manifest, errors) = DatasetManifest.Parse(json, _ => null);
        Assert.Null(manifest);
        Assert.Contains("split", errors.Keys);
    }

    [Fact]
    public async Task Quoted_csv_values_keep_their_commas_quotes_and_line_breaks()
    {
        var scan = await Scan(Manifest("r.csv", Text, Label), "text,label\n\"good, \"\"really\"\" good\",pos\n\"two\nlines\",neg\nplain,neg\n");
        Assert.Equal(0, scan.ProblemCount);
        Assert.Equal(3, scan.Count);
        Assert.Equal("good, \"really\" good", scan.Examples[0]["text"]!.GetValue<string>());
        Assert.Equal("two\nlines", scan.Examples[1]["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_csv_header_must_match_the_declared_fields()
    {
        var scan = await Scan(Manifest("r.csv", Text, Label), "text,lable\nhi,pos\n");
        Assert.Equal(["line 1, field 'label': the header has no column for this declared field",
                      "line 1, field 'lable': this column is not a declared field; declare it in dataset.json or remove it"],
            scan.Problems.Select(p => p.ToString()));
        var empty = await Scan(Manifest("r.csv", Text, Label), "");
        Assert.Equal(1, empty.ProblemCount);
    }

    [Fact]
    public async Task Many_records_are_counted_while_only_a_few_are_kept()
    {
        // a generated stream of 200,000 records: the scan keeps 8 examples and the count
        var body = new StringBuilder("text,label\n");
        for (var i = 0; i < 200_000; i++) body.Append("record ").Append(i).Append(",pos\n");
        var scan = await Scan(Manifest("r.csv", Text, Label), body.ToString());
        Assert.Equal(200_000, scan.Count);
        Assert.Equal(8, scan.Examples.Count);
    }

    [Fact]
    public async Task The_inputs_of_a_record_never_hold_its_labels()
    {
        var manifest = Manifest("r.jsonl", Text, new DatasetField("score", "number", "label"), new DatasetField("label", "label", "label"));
        var records = new List<DatasetRecord>();
        await foreach (var r in DatasetRecords.ReadAsync(new MemoryStream("{\"text\":\"a\",\"score\":1.5,\"label\":3}\n"u8.ToArray()), manifest, _ => null))
            records.Add(r);
        var record = Assert.Single(records);
        Assert.Empty(record.Problems);
        Assert.Equal("3", record.Values["label"]!.GetValue<string>());
        Assert.Equal("{\"text\":\"a\"}", record.Inputs(manifest).ToJsonString());
    }

    [Fact]
    public void Field_names_are_unique_and_classes_belong_to_labels()
    {
        var json = JsonSerializer.SerializeToElement(new
        {
            name = "t", description = "", task = "regression", records = "r.csv",
            fields = new object[]
            {
                new { name = "x", type = "number", role = "input", classes = new[] { "a" } },
                new { name = "x", type = "number", role = "label" },
            },
        });
        var (manifest, errors) = DatasetManifest.Parse(json, _ => null);
        Assert.Null(manifest);
        Assert.Contains("'x' is declared twice", errors["fields/1/name"][0]);
        Assert.Contains("only a field of type 'label' can list classes", errors["fields/0/classes"][0]);
    }

    [Fact]
    public async Task A_csv_record_with_an_unclosed_quote_is_a_problem_not_a_crash()
    {
        var scan = await Scan(Manifest("r.csv", Text, Label), "text,label\nfine,pos\n\"never closed,neg\n");
        Assert.True(scan.ProblemCount > 0);
        Assert.Contains("not valid CSV", scan.Problems[0].Message);
    }

    [Fact]
    public async Task Json_lines_are_read_in_bounded_pieces_with_crlf_and_no_final_newline()
    {
        var manifest = Manifest("r.jsonl", Text, Label);
        var ok = await Scan(manifest, "{\"text\":\"a\",\"label\":\"x\"}\r\n\r\n{\"text\":\"b\",\"label\":\"y\"}");
        Assert.Equal(0, ok.ProblemCount);
        Assert.Equal(2, ok.Count);
        var huge = await Scan(manifest, "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"" + new string('b', DatasetRecords.MaxRecordChars) + "\"}\n");
        Assert.Equal("line 2: the line is longer than 4194304 characters; reading stopped here", Assert.Single(huge.Problems).ToString());
    }
}

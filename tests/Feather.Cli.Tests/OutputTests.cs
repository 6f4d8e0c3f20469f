using System.Net;
using System.Text.Json.Nodes;
using Feather.Cli.Api;
using Feather.Cli.Config;
using Feather.Cli.Output;
using Feather.Cli.Runs;

namespace Feather.Cli.Tests;

public class OutputTests
{
    [Fact]
    public void Inputs_file_of_the_contract_parses_into_one_object_per_step()
    {
        var steps = InputsFile.Parse("""{"steps": [{"name": {"texts": ["Ada"]}}, {"objects": {"selected": [[0, 2], [1]]}}]}""", "in.json");
        Assert.Equal(2, steps.Count);
        Assert.Equal("Ada", (string?)steps[0]["name"]!["texts"]![0]);
        Assert.Equal(2, (int?)steps[1]["objects"]!["selected"]![0]![1]);
    }

    [Theory]
    [InlineData("{\"steps\": [", "not valid JSON (line 1")]
    [InlineData("[]", "top level must be an object")]
    [InlineData("{}", "\"steps\" is missing")]
    [InlineData("{\"steps\": {}}", "\"steps\" is missing or not a list")]
    [InlineData("{\"steps\": [3]}", "steps[0] must be an object")]
    [InlineData("{\"steps\": [{}], \"step\": []}", "unknown top-level key(s) \"step\"")]
    public void Bad_inputs_files_say_what_is_wrong(string text, string why)
    {
        var e = Assert.Throws<CliException>(() => InputsFile.Parse(text, "in.json"));
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Tables_pad_columns_to_the_widest_cell()
    {
        var writer = new StringWriter { NewLine = "\n" };
        Table.Write(writer, ["MODEL", "LIVE", "DESCRIPTION"], [["alice/hello", "3", "Greets you."], ["bob/x", "-", ""]]);
        Assert.Equal("MODEL        LIVE  DESCRIPTION\nalice/hello  3     Greets you.\nbob/x        -\n", writer.ToString());
    }

    [Fact]
    public void Step_outputs_print_text_as_text_and_binary_as_a_summary()
    {
        var outputs = JsonNode.Parse("""
            [{"name": "greeting", "component": "Text.View", "value": "Hello, Ada\nBye"},
             {"name": "images", "component": "Image.View", "value": {"images": [{"name": "x.png", "media_type": "image/png", "data": "AAAAAA=="}], "output_text": ["a cat"]}}]
            """);
        var writer = new StringWriter { NewLine = "\n" };
        StepPrinter.WriteOutputs(writer, outputs);
        Assert.Equal("""
              greeting (Text.View):
                Hello, Ada
                Bye
              images (Image.View):
                images:
                  [0] x.png  image/png  4 B
                output_text:
                  a cat

            """.Replace("\r", ""), writer.ToString());
    }

    [Fact]
    public void Step_errors_print_type_message_frames_and_logs()
    {
        var step = System.Text.Json.JsonSerializer.Deserialize<Feather.Contracts.StepView>("""
            {"index": 0, "name": "detect", "status": "failed", "logs": "loading\nboom\n",
             "error": {"type": "ValueError", "message": "bad box", "frames": [{"file": "model.py", "line": 12, "function": "detect", "code": "  raise ValueError('bad box')"}]}}
            """, Feather.Contracts.ContractJson.Options)!;
        var writer = new StringWriter { NewLine = "\n" };
        StepPrinter.WriteError(writer, step);
        Assert.Equal("  ValueError: bad box\n    model.py:12 in detect\n      raise ValueError('bad box')\n  logs:\n    | loading\n    | boom\n", writer.ToString());
    }

    [Fact]
    public void Problem_details_become_messages_naming_step_and_input()
    {
        var api = new FeatherApi(new HttpClient(), new ServerSettings(new Uri("http://s/"), "t", null, "login"));
        var e = api.ErrorFor(HttpStatusCode.UnprocessableEntity,
            """{"title": "Invalid input", "detail": "step 1 refused its input", "status": 422, "errors": [{"step": 1, "input": "objects", "message": "image 2: 3 items selected, at most 2 allowed"}]}""",
            HttpMethod.Post, "api/runs/r/steps/1");
        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Equal("Invalid input: step 1 refused its input\n  step 1, input \"objects\": image 2: 3 items selected, at most 2 allowed", e.Message);

        var aspnet = api.ErrorFor(HttpStatusCode.BadRequest, """{"title": "One or more validation errors occurred.", "errors": {"metadata.name": ["must match [a-z0-9-]+"]}}""", HttpMethod.Post, "api/publish");
        Assert.Contains("metadata.name: must match [a-z0-9-]+", aspnet.Message);

        Assert.Equal(ExitCodes.NotLoggedIn, api.ErrorFor(HttpStatusCode.Unauthorized, "", HttpMethod.Get, "api/me").Code);
        Assert.Equal(ExitCodes.NotFound, api.ErrorFor(HttpStatusCode.NotFound, "", HttpMethod.Get, "api/models/a/b").Code);
        Assert.Equal(ExitCodes.Forbidden, api.ErrorFor(HttpStatusCode.Forbidden, "", HttpMethod.Get, "x").Code);
        Assert.Equal(ExitCodes.Error, api.ErrorFor(HttpStatusCode.InternalServerError, "oops", HttpMethod.Get, "x").Code);
    }

    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(10L * 1024 * 1024, "10.0 MiB")]
    public void Sizes_are_readable(long bytes, string text) => Assert.Equal(text, Format.Bytes(bytes));
}

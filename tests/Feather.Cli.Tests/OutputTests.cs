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
    public void A_failed_build_blames_the_packages_only_when_the_environment_failed()
    {
        var envFailed = "runner image feather-runner:latest is sha256:ab\nbuilding environment image feather-env:0123\nE: Unable to locate package nope";
        Assert.Contains("system_packages / python_packages", Feather.Cli.Commands.PublishCommand.BuildFailureHint(envFailed));
        var filesFailed = "environment image feather-env:0123 already built; reusing it\nbuilding version image feather-version:m-2\nerror: no space left on device";
        var hint = Feather.Cli.Commands.PublishCommand.BuildFailureHint(filesFailed);
        Assert.DoesNotContain("system_packages", hint);
        Assert.Contains("adding the model's files to the image failed", hint);
    }

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

    [Theory]
    [InlineData("\u001b[2J\u001b[Hcleared", "cleared")]                                     // CSI: clear screen, cursor home
    [InlineData("red \u001b[31mtext\u001b[0m", "red text")]                               // colours
    [InlineData("\u001b]0;pwned title\u0007after", "after")]                               // OSC window title ended by BEL
    [InlineData("\u001b]8;;http://evil.example/\u001b\\click\u001b]8;;\u001b\\", "click")] // OSC 8 hyperlink ended by ST
    [InlineData("\u001bPq#0;2;0;0;0\u001b\\x", "x")]                                      // DCS (sixel)
    [InlineData("reset\u001bc!", "reset!")]                                                // ESC c: full reset
    [InlineData("\u009b31mC1 CSI", "C1 CSI")]                                              // 8-bit CSI
    [InlineData("bell\u0007 bs\u0008 nul\u0000 del\u007f nel\u0085", "bell\uFFFD bs\uFFFD nul\uFFFD del\uFFFD nel\uFFFD")]
    [InlineData("line 1\r\nline 2\tend\n", "line 1\nline 2\tend\n")]                   // newline and tab are kept
    [InlineData("10%\r50%\r100%", "10%\n50%\n100%")]                                     // a carriage return cannot overwrite a line
    [InlineData("unterminated \u001b]0;title", "unterminated ")]
    [InlineData("plain text, ünïcode ✓", "plain text, ünïcode ✓")]
    public void Text_from_a_model_or_server_is_neutralised_before_it_reaches_a_terminal(string text, string shown)
    {
        var safe = TerminalText.Safe(text);
        Assert.Equal(shown, safe);
        Assert.DoesNotContain(safe, c => c < ' ' && c != '\n' && c != '\t' || c is >= '\u007f' and <= '\u009f');
    }

    [Fact]
    public void Step_outputs_errors_logs_and_tables_print_no_escape_sequences()
    {
        var hostile = "\u001b]0;owned\u0007\u001b[1A\u001b[2Kfine\u0007";
        var step = new JsonObject
        {
            ["index"] = 0, ["name"] = "s", ["status"] = "failed",
            ["outputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "answer" + hostile, ["component"] = "Text",
                ["value"] = new JsonObject { ["key" + hostile] = hostile, ["list"] = new JsonArray(hostile, hostile) },
            }),
            ["error"] = new JsonObject
            {
                ["type"] = "ValueError" + hostile, ["message"] = hostile,
                ["frames"] = new JsonArray(new JsonObject { ["file"] = "model.py" + hostile, ["line"] = 3, ["function"] = "f", ["code"] = hostile }),
            },
            ["logs"] = "epoch 1" + hostile + "\n",
        };
        var writer = new StringWriter { NewLine = "\n" };
        StepPrinter.WriteOutputs(writer, step["outputs"]);
        StepPrinter.WriteError(writer, System.Text.Json.JsonSerializer.Deserialize<Feather.Contracts.StepView>(step.ToJsonString(), Feather.Contracts.ContractJson.Options)!);
        Table.Write(writer, ["NAME"], [[Format.Str(step["error"], "message")]]);
        var printed = writer.ToString();
        Assert.DoesNotContain('\u001b', printed);
        Assert.DoesNotContain('\u0007', printed);
        Assert.Contains("answerfine\uFFFD (Text):", printed);
        Assert.Contains("| epoch 1fine\uFFFD", printed);
    }
}

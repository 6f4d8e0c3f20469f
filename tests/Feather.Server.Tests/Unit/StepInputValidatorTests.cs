using System.Text.Json;
using System.Text.Json.Nodes;
using Feather.Server.Runs;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// The server's check of a step's responses against the JSON Schemas the SDK's components emit.
/// The components offered here are the SDK's own output payloads (props, value and schema), kept in
/// tests/python/snapshots/response-schemas.json, which a pytest compares with what the SDK emits.
/// Step 0 is checked against the metadata's init components; step k against the outputs step k-1 stored.
/// </summary>
public class StepInputValidatorTests
{
    private static readonly string Png = Convert.ToBase64String([0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6]);

    private static readonly JsonElement Fixture = JsonDocument.Parse(System.IO.File.ReadAllText(
        Path.Combine(RepoRoot(), "tests", "python", "snapshots", "response-schemas.json"))).RootElement;

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Feather.sln")))
                return dir.FullName;
        throw new FileNotFoundException("Feather.sln not found above the test output folder");
    }

    /// <summary>The SDK's output payload for a fixture component, named x (an init entry when <paramref name="init"/>).</summary>
    private static string Offered(string key, bool init = false)
    {
        var node = JsonNode.Parse(Fixture.GetProperty(key).GetRawText())!.AsObject();
        if (init) node["interactive"] = node["schema"]?["response"] is not null;
        return node.ToJsonString();
    }

    /// <summary>Metadata whose step 0 takes <paramref name="init"/> and step 1 takes step 0's outputs <paramref name="step1Inputs"/>.</summary>
    private static JsonElement Metadata(string init, string step1Inputs = "[]") => JsonDocument.Parse($$"""
        {"steps": [
          {"name": "first", "inputs": {{init}}, "outputs": []},
          {"name": "second", "inputs": {{step1Inputs}}, "outputs": []}
        ], "init": {{init}}}
        """).RootElement;

    /// <summary>A later step's declared input: the class's shape only, as the metadata has it.</summary>
    private static string Declared(string component) =>
        new JsonArray(new JsonObject
        {
            ["name"] = "x", ["component"] = component, ["version"] = 1, ["interactive"] = true, ["props"] = new JsonObject(),
            ["schema"] = new JsonObject { ["value"] = null, ["response"] = new JsonObject { ["type"] = "object" } },
        }).ToJsonString();

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement;

    private static IReadOnlyList<StepInputError> Step0(string key, string response, long? maxFileBytes = null) =>
        StepInputValidator.Validate(Metadata($"[{Offered(key, init: true)}]"), 0, J("{\"x\": " + response + "}"), null, maxFileBytes);

    private static IReadOnlyList<StepInputError> Step1(string key, string response)
    {
        var component = Fixture.GetProperty(key).GetProperty("component").GetString()!;
        return StepInputValidator.Validate(Metadata("[]", Declared(component)), 1, J("{\"x\": " + response + "}"), J($"[{Offered(key)}]"));
    }

    private static void Valid(IReadOnlyList<StepInputError> errors) => Assert.Empty(errors);

    /// <summary>Exactly one thing is wrong, with input x, and the message says where and what.</summary>
    private static void Invalid(IReadOnlyList<StepInputError> errors, params string[] parts)
    {
        var error = Assert.Single(errors);
        Assert.Equal("x", error.Input);
        foreach (var part in parts) Assert.Contains(part, error.Message);
    }

    // ---- File.Upload (types .png and .jpg, 1 to 2 files) ----------------------------------------

    private static string File(string name, string? data = null) => $$"""{"name": "{{name}}", "media_type": "image/png", "data": "{{data ?? Png}}"}""";

    [Fact]
    public void File_upload_accepts_files_of_its_types_within_its_count()
    {
        Valid(Step0("upload", $$"""{"files": [{{File("a.png")}}, {{File("b.JPG")}}]}"""));
        Valid(Step0("upload", $$"""{"files": [{{File("a.tar.png", "")}}]}"""));
    }

    [Fact]
    public void File_upload_names_the_file_and_the_rule_it_breaks()
    {
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png")}}, {{File("notes.txt")}}]}"""),
            "files[1].name:", "a file name ending in .png or .jpg");
        Invalid(Step0("upload", $$"""{"files": [{{File("README")}}]}"""), "files[0].name:", "ending in .png or .jpg");
        Invalid(Step0("upload", $$"""{"files": [{{File(".png")}}]}"""), "files[0].name:");
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png")}}, {{File("b.png")}}, {{File("c.png")}}]}"""), "files:", "at most 2 items");
        Invalid(Step0("upload", """{"files": []}"""), "files:", "at least 1 items");
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png", "not base64!")}}]}"""), "files[0].data:", "standard base64");
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png", "AAA")}}]}"""), "files[0].data:", "standard base64");
        Invalid(Step0("upload", """{"files": [{"name": "a.png", "data": "AAAA"}]}"""), "files[0]:", "media_type");
        Invalid(Step0("upload", """{"files": [{"name": "", "media_type": "x", "data": "AAAA"}]}"""), "files[0].name:");
        Invalid(Step0("upload", """{"files": [{"name": "a.png", "media_type": "x", "data": "AAAA", "path": "/etc"}]}"""),
            "files[0]: unknown field 'path'");
        Invalid(Step0("upload", """{"files": ["a.png"]}"""), "files[0]:", "\"object\"");
        Invalid(Step0("upload", """{"files": {}}"""), "files:", "\"array\"");
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png")}}], "more": 1}"""), "response: unknown field 'more'");
        var wrongField = Step0("upload", """{"file": []}""");
        Assert.Equal(2, wrongField.Count);
        Assert.Contains(wrongField, e => e.Message.StartsWith("response:", StringComparison.Ordinal) && e.Message.Contains("files"));
        Assert.Contains(wrongField, e => e.Message == "response: unknown field 'file'");
    }

    private static string Typed(string name, string mediaType) => $$"""{"name": "{{name}}", "media_type": "{{mediaType}}", "data": "{{Png}}"}""";

    [Fact]
    public void File_upload_accepts_any_extension_or_media_type_the_model_names()
    {
        // File.Upload(types=[".pt", ".onnx"]): weights files, whatever media type the browser guessed
        Valid(Step0("upload_weights", $$"""{"files": [{{Typed("model.pt", "application/octet-stream")}}]}"""));
        Valid(Step0("upload_weights", $$"""{"files": [{{Typed("model.ONNX", "")}}]}"""));
        Invalid(Step0("upload_weights", $$"""{"files": [{{Typed("model.pth", "application/octet-stream")}}]}"""),
            "files[0].name:", "ending in .pt or .onnx");
        // File.Upload(types=["audio/*", "video/mp4"]): by media type, with parameters, any case
        Valid(Step0("upload_media", $$"""{"files": [{{Typed("a.wav", "audio/wav")}}]}"""));
        Valid(Step0("upload_media", $$"""{"files": [{{Typed("clip", "Video/MP4; codecs=avc1")}}]}"""));
        Invalid(Step0("upload_media", $$"""{"files": [{{Typed("a.webm", "video/webm")}}]}"""), "files[0].media_type:");
        Invalid(Step0("upload_media", $$"""{"files": [{{Typed("a.wav", "audio/")}}]}"""), "files[0].media_type:");
    }

    [Fact]
    public void File_upload_refuses_a_file_over_the_size_limit()
    {
        var big = Convert.ToBase64String(new byte[3000]);
        Valid(Step0("upload", $$"""{"files": [{{File("a.png", big)}}]}""", maxFileBytes: 3000));
        Invalid(Step0("upload", $$"""{"files": [{{File("a.png", big)}}]}""", maxFileBytes: 2048),
            "files[0].data (a.png): 2.9 KiB, at most 2 KiB allowed");
    }

    [Fact]
    public void Base64_sizes_and_readable_locations()
    {
        Assert.Equal(10, StepInputValidator.Base64Size(Png));
        Assert.Equal(0, StepInputValidator.Base64Size(""));
        Assert.Equal(1, StepInputValidator.Base64Size("AA=="));
        Assert.Equal(2, StepInputValidator.Base64Size("AAA="));
        Assert.Equal(3000, StepInputValidator.Base64Size(Convert.ToBase64String(new byte[3000])));
        Assert.Equal("response", StepInputValidator.Where(""));
        Assert.Equal("files[0].name", StepInputValidator.Where("/files/0/name"));
        Assert.Equal("selected[1][0]", StepInputValidator.Where("/selected/1/0"));
        Assert.Equal("a/b", StepInputValidator.Where("/a~1b"));
    }

    // ---- Text.In ----------------------------------------------------------------------------

    [Fact]
    public void Text_in_wants_num_inputs_texts_within_max_chars()
    {
        Valid(Step0("text", """{"texts": ["abc", "héllo"]}"""));
        Valid(Step0("text", """{"texts": ["😀😀😀😀😀", ""]}""")); // characters, not UTF-16 units
        Invalid(Step0("text", """{"texts": ["abc"]}"""), "texts:", "at least 2 items");
        Invalid(Step0("text", """{"texts": ["a", "b", "c"]}"""), "texts:", "at most 2 items");
        Invalid(Step0("text", """{"texts": ["abc", "toolong"]}"""), "texts[1]:", "at most 5 characters");
        Invalid(Step0("text", """{"texts": ["abc", 5]}"""), "texts[1]:", "\"string\"");
        Invalid(Step0("text", """{"texts": "abc"}"""), "texts:", "\"array\"");
        Invalid(Step0("text", "\"abc\""), "response:", "\"object\"");
        // The SDK's defaults: one input of at most 256 characters.
        Valid(Step0("text_default", $$"""{"texts": ["{{new string('a', 256)}}"]}"""));
        Invalid(Step0("text_default", $$"""{"texts": ["{{new string('a', 257)}}"]}"""), "texts[0]:", "at most 256 characters");
    }

    // ---- List -------------------------------------------------------------------------------

    [Fact]
    public void List_select_one_wants_an_offered_index()
    {
        Valid(Step1("select_one", """{"selected": 1}"""));
        Valid(Step1("select_one", """{"selected": 1.0}""")); // JSON has one number type, as the SDK now takes it
        Invalid(Step1("select_one", """{"selected": 2}"""), "selected:", "at most 1");
        Invalid(Step1("select_one", """{"selected": -1}"""), "selected:", "at least 0");
        Invalid(Step1("select_one", """{"selected": 0.5}"""), "selected:");
        Invalid(Step1("select_one", """{"selected": "dog"}"""), "selected:", "\"integer\"");
        Invalid(Step1("select_one", """{"selected": true}"""), "selected:", "\"integer\"");
        Invalid(Step1("select_one", """{"selected": [1]}"""), "selected:", "\"integer\"");
        Invalid(Step1("select_one", "1"), "response:", "\"object\"");
        // at step 0, the items are init()'s
        Valid(Step0("select_one", """{"selected": 0}"""));
        Invalid(Step0("select_one", """{"selected": 5}"""), "selected:", "at most 1");
    }

    [Fact]
    public void List_select_multi_wants_distinct_offered_indices_within_min_and_max_selected()
    {
        Valid(Step1("select_multi", """{"selected": [2, 0]}"""));
        Valid(Step1("select_multi", """{"selected": []}"""));
        Invalid(Step1("select_multi", """{"selected": [0, 1, 2]}"""), "selected:", "at most 2 items");
        Invalid(Step1("select_multi", """{"selected": [1, 1]}"""), "selected:", "duplicates");
        Invalid(Step1("select_multi", """{"selected": [0, 3]}"""), "selected[1]:", "at most 2");
        Invalid(Step1("select_multi", """{"selected": 0}"""), "selected:", "\"array\"");
        Valid(Step1("select_multi_any", """{"selected": [0, 1, 2]}"""));
        Valid(Step1("select_multi_min", """{"selected": [3, 1]}"""));
        Invalid(Step1("select_multi_min", """{"selected": [3]}"""), "selected:", "at least 2 items");
        Invalid(Step1("select_multi_min", """{"selected": []}"""), "selected:", "at least 2 items");
    }

    // ---- Image ------------------------------------------------------------------------------

    [Fact]
    public void Image_with_select_one_wants_one_offered_index_per_image()
    {
        Valid(Step1("image_select_one", """{"selected": [1, 0]}"""));
        Invalid(Step1("image_select_one", """{"selected": [1]}"""), "selected:", "at least 2 items");
        Invalid(Step1("image_select_one", """{"selected": [0, 1]}"""), "selected[1]:", "at most 0");
        var extra = Step1("image_select_one", """{"selected": [0, 0, 0]}""");
        Assert.Contains(extra, e => e.Message.Contains("at most 2 items", StringComparison.Ordinal));
    }

    [Fact]
    public void Image_with_select_multi_checks_each_images_selection_and_min_and_max_selected()
    {
        Valid(Step1("image_select_multi", """{"selected": [[0, 2], []]}"""));
        Invalid(Step1("image_select_multi", """{"selected": [[0, 1, 2], [0]]}"""), "selected[0]:", "at most 2 items");
        Invalid(Step1("image_select_multi", """{"selected": [[0], [1]]}"""), "selected[1][0]:", "at most 0");
        Invalid(Step1("image_select_multi", """{"selected": [[0]]}"""), "selected:", "at least 2 items");
        Invalid(Step1("image_select_multi", """{"selected": [[0, 0], []]}"""), "selected[0]:", "duplicates");
        var notLists = Step1("image_select_multi", """{"selected": [0, 0]}""");
        Assert.Equal(["selected[0]", "selected[1]"], notLists.Select(e => e.Message.Split(':')[0]));
        Valid(Step1("image_select_multi_min", """{"selected": [[1], [0]]}"""));
        Invalid(Step1("image_select_multi_min", """{"selected": [[1], []]}"""), "selected[1]:", "at least 1 items");
    }

    [Fact]
    public void Image_with_text_in_wants_one_text_per_image_within_max_chars()
    {
        Valid(Step1("image_text", """{"texts": ["a", "b"]}"""));
        Invalid(Step1("image_text", """{"texts": ["a"]}"""), "texts:", "at least 2 items");
        Invalid(Step1("image_text", """{"texts": ["a", "bcde"]}"""), "texts[1]:", "at most 3 characters");
    }

    [Fact]
    public void Document_with_text_in_wants_one_text_per_document()
    {
        Valid(Step1("document_text", """{"texts": ["a"]}"""));
        Invalid(Step1("document_text", """{"texts": ["a", "b"]}"""), "texts:", "at most 1 items");
    }

    // ---- inputs as a whole ------------------------------------------------------------------

    [Fact]
    public void Unknown_and_missing_inputs_are_named()
    {
        var metadata = Metadata($"[{Offered("text_default", init: true)}]",
            """[{"name": "shown", "component": "Text.View", "interactive": false, "props": {}, "schema": {"value": {}, "response": null}}, {"name": "carried", "component": "Json", "props": {}, "schema": {"value": {}, "response": null}}]""");
        var missing = Assert.Single(StepInputValidator.Validate(metadata, 0, J("{}"), null));
        Assert.Equal(new StepInputError("x", "missing response for input 'x' (Text.In)"), missing);

        var unknown = StepInputValidator.Validate(metadata, 0, J("""{"x": {"texts": ["a"]}, "y": 1}"""), null);
        Assert.Equal(new StepInputError("y", "step 'first' has no input 'y' that takes a response (inputs that do: x)"), Assert.Single(unknown));

        // A view or a plain JSON value takes no response.
        var view = StepInputValidator.Validate(metadata, 1, J("""{"shown": {}}"""), J($"[{Offered("text_view")}]"));
        Assert.Equal(new StepInputError("shown", "step 'second' has no input 'shown' that takes a response (it takes none)"), Assert.Single(view));
        Assert.Empty(StepInputValidator.Validate(metadata, 1, J("{}"), J("[]")));
        Assert.Equal("'responses' must be an object keyed by input name, got an array",
            Assert.Single(StepInputValidator.Validate(metadata, 0, J("[]"), null)).Message);
    }

    [Fact]
    public void A_later_step_is_checked_against_what_the_previous_step_offered_not_the_metadata()
    {
        var metadata = Metadata("[]", Declared("List.SelectOne"));
        var offered = J($"[{Offered("select_one_only")}]");
        Assert.Empty(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""), offered));
        Assert.Contains("at most 0", Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 1}}"""), offered)).Message);

        var nothing = Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""), J("[]")));
        Assert.Equal(new StepInputError("x", "the step before offered no output named 'x' (List.SelectOne); run it again"), nothing);
        var other = Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""), J($"[{Offered("select_multi")}]")));
        Assert.Equal("the step before offered a List.SelectMulti as 'x', the model declares List.SelectOne", other.Message);
    }

    [Fact]
    public void An_output_stored_without_a_schema_is_only_checked_for_presence()
    {
        // Runs recorded before outputs carried their schema: the runtime still checks the response.
        var metadata = Metadata("[]", Declared("List.SelectOne"));
        var old = J("""[{"name": "x", "component": "List.SelectOne", "version": 1, "props": {}, "value": {"items": ["only"]}}]""");
        Assert.Empty(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 7}}"""), old));
        Assert.Equal("missing response for input 'x' (List.SelectOne)",
            Assert.Single(StepInputValidator.Validate(metadata, 1, J("{}"), old)).Message);
    }

    [Fact]
    public void The_problem_names_the_step_and_every_wrong_input()
    {
        var a = Offered("text_short", init: true);
        var metadata = Metadata($"[{a}, {a.Replace("\"name\":\"x\"", "\"name\":\"b\"")}]".Replace("\"name\":\"x\"", "\"name\":\"a\""));
        var problem = StepInputValidator.Problem(metadata, 0, J("""{"a": {"texts": ["abc"]}}"""), null)!.ProblemDetails;
        Assert.Equal(400, problem.Status);
        Assert.Equal(0, problem.Extensions["step"]);
        Assert.Equal("a", problem.Extensions["input"]);
        var errors = Assert.IsType<Dictionary<string, string[]>>(problem.Extensions["errors"]);
        Assert.Contains("at most 2 characters", Assert.Single(errors["steps/0/a"]));
        Assert.StartsWith("texts[0]:", errors["steps/0/a"][0]);
        Assert.Equal(["missing response for input 'b' (Text.In)"], errors["steps/0/b"]);
        Assert.Contains("step 0 (first)", problem.Detail);
        Assert.Null(StepInputValidator.Problem(metadata, 0, J("""{"a": {"texts": ["ab"]}, "b": {"texts": ["x"]}}"""), null));
    }

    // ---- a schema is the model's word: bounded work -------------------------------------------

    [Fact]
    public void An_array_past_its_max_items_is_refused_before_the_evaluator_walks_it()
    {
        var many = "[" + string.Join(",", Enumerable.Repeat("0", 2_000_000)) + "]";
        // the message is the bound check's ("not 2000000"), which runs before the schema evaluator walks the array
        Invalid(Step1("select_multi_any", $$"""{"selected": {{many}}}"""), "selected: Value should have at most 3 items, not 2000000");
    }

    [Fact]
    public void An_array_whose_schema_sets_no_limit_is_checked_up_to_a_bound()
    {
        var schema = J("""{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}""");
        Assert.Empty(StepInputValidator.Check(schema, J("""{"a": [1, 2, 3]}"""), null));
        var many = "[" + string.Join(",", Enumerable.Repeat("1", StepInputValidator.UnboundedArrayLimit + 1)) + "]";
        Assert.Equal([$"a: {StepInputValidator.UnboundedArrayLimit + 1} items; the server checks at most {StepInputValidator.UnboundedArrayLimit} where the schema sets no maxItems"],
            StepInputValidator.Check(schema, J($$"""{"a": {{many}}}"""), null));
    }

    [Fact]
    public void A_catastrophic_pattern_is_stopped_by_a_time_limit()
    {
        var schema = J("""{"type": "string", "pattern": "^(a+)+$"}""");
        // without the time limit this pattern backtracks for far longer than the suite runs; with it, the check says so
        var message = Assert.Single(StepInputValidator.Check(schema, J($"\"{new string('a', 40)}!\""), null));
        Assert.Contains("took longer than 250 ms", message);
    }

    [Fact]
    public void A_schema_may_not_switch_dialect_and_a_broken_one_is_reported()
    {
        var other = J("""{"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "pattern": "^(a+)+$"}""");
        Assert.Contains("declares $schema", Assert.Single(StepInputValidator.Check(other, J("\"aaa\""), null)));
        var broken = J("""{"type": "string", "pattern": "(unclosed"}""");
        Assert.Contains("not usable", Assert.Single(StepInputValidator.Check(broken, J("\"a\""), null)));
    }
}

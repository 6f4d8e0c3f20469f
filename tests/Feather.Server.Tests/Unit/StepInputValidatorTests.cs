using System.Text.Json;
using Feather.Server.Runs;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// The server's check of a step's responses, per component, with the SDK's response shapes and
/// messages (python-sdk/feather). Step 0 against the metadata's init components; step k against
/// the outputs step k-1 stored.
/// </summary>
public class StepInputValidatorTests
{
    private static readonly string Png = Convert.ToBase64String([0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6]);

    /// <summary>Metadata whose step 0 takes <paramref name="init"/> and step 1 takes step 0's outputs <paramref name="step1Inputs"/>.</summary>
    private static JsonElement Metadata(string init, string step1Inputs = "[]") => JsonDocument.Parse($$"""
        {"steps": [
          {"name": "first", "inputs": {{init}}, "outputs": []},
          {"name": "second", "inputs": {{step1Inputs}}, "outputs": []}
        ], "init": {{init}}}
        """).RootElement;

    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement;

    private static IReadOnlyList<StepInputError> Step0(string component, string props, string response, string? value = null, long? maxFileBytes = null)
    {
        var init = $$$"""[{"name": "x", "component": "{{{component}}}", "version": 1, "interactive": true, "props": {{{props}}}{{{(value is null ? "" : $", \"value\": {value}")}}}}]""";
        return StepInputValidator.Validate(Metadata(init), 0, J("{\"x\": " + response + "}"), null, maxFileBytes);
    }

    private static IReadOnlyList<StepInputError> Step1(string component, string props, string value, string response)
    {
        var declared = $$$"""[{"name": "x", "component": "{{{component}}}", "version": 1, "interactive": true, "props": {}}]""";
        var previous = J($$$"""[{"name": "x", "component": "{{{component}}}", "version": 1, "props": {{{props}}}, "value": {{{value}}}}]""");
        return StepInputValidator.Validate(Metadata("[]", declared), 1, J("{\"x\": " + response + "}"), previous);
    }

    private static void Valid(IReadOnlyList<StepInputError> errors) => Assert.Empty(errors);

    private static void Invalid(IReadOnlyList<StepInputError> errors, string message)
    {
        var error = Assert.Single(errors);
        Assert.Equal("x", error.Input);
        Assert.Equal(message, error.Message);
    }

    // ---- File.Upload ----------------------------------------------------------------------

    private const string UploadProps = """{"types": [".PNG", ".jpg"], "min_files": 1, "max_files": 2}""";

    private static string File(string name, string? data = null) => $$"""{"name": "{{name}}", "media_type": "image/png", "data": "{{data ?? Png}}"}""";

    [Fact]
    public void File_upload_accepts_files_of_its_types_within_its_count()
    {
        Valid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png")}}, {{File("b.JPG")}}]}"""));
    }

    [Fact]
    public void File_upload_names_the_file_and_the_rule_it_breaks()
    {
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png")}}, {{File("notes.txt")}}]}"""),
            "file 1 (notes.txt): type .txt not accepted, expected one of .png, .jpg");
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("README")}}]}"""),
            "file 0 (README): type (none) not accepted, expected one of .png, .jpg");
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png")}}, {{File("b.png")}}, {{File("c.png")}}]}"""),
            "3 file(s) given, expected 1 to 2");
        Invalid(Step0("File.Upload", UploadProps, """{"files": []}"""), "0 file(s) given, expected 1 to 2");
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png", "not base64!")}}]}"""),
            "file 0 (a.png): 'data' is not valid standard base64");
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png", "AAA")}}]}"""),
            "file 0 (a.png): 'data' is not valid standard base64");
        Invalid(Step0("File.Upload", UploadProps, """{"files": [{"name": "a.png", "data": "AAAA"}]}"""),
            "file 0: field 'media_type' must be a string");
        Invalid(Step0("File.Upload", UploadProps, """{"files": [{"name": "", "media_type": "x", "data": "AAAA"}]}"""),
            "file 0: field 'name' must not be empty");
        Invalid(Step0("File.Upload", UploadProps, """{"files": [{"name": "a.png", "media_type": "x", "data": "AAAA", "path": "/etc"}]}"""),
            "file 0: unknown field(s) path");
        Invalid(Step0("File.Upload", UploadProps, """{"files": ["a.png"]}"""),
            "file 0: expected an object {name, media_type, data}, got str");
        Invalid(Step0("File.Upload", UploadProps, """{"files": {}}"""), "files must be a list, got dict");
        Invalid(Step0("File.Upload", UploadProps, """{"file": []}"""), "missing field 'files' (a File.Upload response is {'files'})");
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png")}}], "more": 1}"""),
            "unknown field 'more' (a File.Upload response is {'files'})");
    }

    [Fact]
    public void File_upload_refuses_a_file_over_the_size_limit()
    {
        var big = Convert.ToBase64String(new byte[3000]);
        Valid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png", big)}}]}""", maxFileBytes: 3000));
        Invalid(Step0("File.Upload", UploadProps, $$"""{"files": [{{File("a.png", big)}}]}""", maxFileBytes: 2048),
            "file 0 (a.png): 2.9 KiB, at most 2 KiB allowed");
    }

    [Fact]
    public void Base64_is_checked_as_strictly_as_pythons_validate_mode()
    {
        Assert.Equal(10, ComponentChecks.Base64Size(Png));
        Assert.Equal(0, ComponentChecks.Base64Size(""));
        Assert.Equal(-1, ComponentChecks.Base64Size("AA AA"));
        Assert.Equal(-1, ComponentChecks.Base64Size("AA-_"));
        Assert.Equal(-1, ComponentChecks.Base64Size("A=AA"));
        Assert.Equal(".gz", ComponentChecks.Extension("a.tar.GZ"));
        Assert.Equal("", ComponentChecks.Extension(".bashrc"));
    }

    // ---- Text.In --------------------------------------------------------------------------

    [Fact]
    public void Text_in_wants_num_inputs_texts_within_max_chars()
    {
        const string props = """{"num_inputs": 2, "max_chars": 5}""";
        Valid(Step0("Text.In", props, """{"texts": ["abc", "héllo"]}"""));
        Valid(Step0("Text.In", props, """{"texts": ["😀😀😀😀😀", ""]}""")); // code points, as Python counts
        Invalid(Step0("Text.In", props, """{"texts": ["abc"]}"""), "expected 2 text(s) (num_inputs), got 1");
        Invalid(Step0("Text.In", props, """{"texts": ["abc", "toolong"]}"""), "text 1: 7 characters, at most 5 allowed");
        Invalid(Step0("Text.In", props, """{"texts": ["abc", 5]}"""), "text 1: must be a string, got int");
        Invalid(Step0("Text.In", props, """{"texts": "abc"}"""), "texts must be a list, got str");
        Invalid(Step0("Text.In", props, "\"abc\""), "expected an object with 'texts', got str");
        // The SDK's defaults: one input of at most 256 characters.
        Valid(Step0("Text.In", "{}", $$"""{"texts": ["{{new string('a', 256)}}"]}"""));
        Invalid(Step0("Text.In", "{}", $$"""{"texts": ["{{new string('a', 257)}}"]}"""), "text 0: 257 characters, at most 256 allowed");
    }

    // ---- List -----------------------------------------------------------------------------

    [Fact]
    public void List_select_one_wants_an_offered_index()
    {
        const string value = """{"items": ["cat", "dog"]}""";
        Valid(Step1("List.SelectOne", "{}", value, """{"selected": 1}"""));
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": 2}"""), "selected: index 2 is out of range (0..1)");
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": -1}"""), "selected: index -1 is out of range (0..1)");
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": "dog"}"""), "selected must be an integer index, got 'dog'");
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": true}"""), "selected must be an integer index, got True");
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": 1.0}"""), "selected must be an integer index, got 1.0");
        Invalid(Step1("List.SelectOne", "{}", value, """{"selected": [1]}"""), "selected must be an integer index, got [1]");
        Invalid(Step1("List.SelectOne", "{}", value, "1"), "expected an object with 'selected', got int");
        // at step 0, the items are init()'s value
        Valid(Step0("List.SelectOne", "{}", """{"selected": 0}""", value));
        Invalid(Step0("List.SelectOne", "{}", """{"selected": 5}""", value), "selected: index 5 is out of range (0..1)");
    }

    [Fact]
    public void List_select_multi_wants_distinct_offered_indices_within_max_selected()
    {
        const string value = """{"items": ["a", "b", "c"], "preselected": [0]}""";
        const string props = """{"max_selected": 2}""";
        Valid(Step1("List.SelectMulti", props, value, """{"selected": [2, 0]}"""));
        Valid(Step1("List.SelectMulti", props, value, """{"selected": []}"""));
        Invalid(Step1("List.SelectMulti", props, value, """{"selected": [0, 1, 2]}"""), "selected: 3 items selected, at most 2 allowed");
        Invalid(Step1("List.SelectMulti", props, value, """{"selected": [1, 1]}"""), "selected: index 1 selected twice");
        Invalid(Step1("List.SelectMulti", props, value, """{"selected": [0, 3]}"""), "selected[1]: index 3 is out of range (0..2)");
        Invalid(Step1("List.SelectMulti", props, value, """{"selected": 0}"""), "selected must be a list, got int");
        Valid(Step1("List.SelectMulti", """{"max_selected": null}""", value, """{"selected": [0, 1, 2]}"""));
    }

    // ---- Image ----------------------------------------------------------------------------

    private static readonly string Images = $$"""[{{File("a.png")}}, {{File("b.png")}}]""";

    [Fact]
    public void Image_with_select_one_wants_one_offered_index_per_image()
    {
        var value = $$"""{"images": {{Images}}, "lists": [["x", "y"], ["z"]]}""";
        Valid(Step1("Image.WithSelectOne", "{}", value, """{"selected": [1, 0]}"""));
        Invalid(Step1("Image.WithSelectOne", "{}", value, """{"selected": [1]}"""), "selected: 1 selections for 2 images (one per image)");
        Invalid(Step1("Image.WithSelectOne", "{}", value, """{"selected": [0, 1]}"""), "image 1: index 1 is out of range (0..0)");
    }

    [Fact]
    public void Image_with_select_multi_checks_each_images_selection_and_max_selected()
    {
        var value = $$"""{"images": {{Images}}, "lists": [["x", "y", "w"], ["z"]], "preselected": [[], []]}""";
        const string props = """{"max_selected": 2}""";
        Valid(Step1("Image.WithSelectMulti", props, value, """{"selected": [[0, 2], []]}"""));
        Invalid(Step1("Image.WithSelectMulti", props, value, """{"selected": [[0, 1, 2], [0]]}"""), "image 0: 3 items selected, at most 2 allowed");
        Invalid(Step1("Image.WithSelectMulti", props, value, """{"selected": [[0], [1]]}"""), "image 1[0]: index 1 is out of range (0..0)");
        Invalid(Step1("Image.WithSelectMulti", props, value, """{"selected": [[0]]}"""), "selected: 1 selections for 2 images (one list per image)");
        Invalid(Step1("Image.WithSelectMulti", props, value, """{"selected": [0, 0]}"""), "image 0 must be a list, got int");
    }

    [Fact]
    public void Image_with_text_in_wants_one_text_per_image_within_max_chars()
    {
        var value = $$"""{"images": {{Images}}}""";
        Valid(Step1("Image.WithTextIn", """{"max_chars": 3}""", value, """{"texts": ["a", "b"]}"""));
        Invalid(Step1("Image.WithTextIn", """{"max_chars": 3}""", value, """{"texts": ["a"]}"""), "expected 2 text(s) (one per image), got 1");
        Invalid(Step1("Image.WithTextIn", """{"max_chars": 3}""", value, """{"texts": ["a", "bcde"]}"""), "text 1: 4 characters, at most 3 allowed");
    }

    [Fact]
    public void Document_with_text_in_wants_one_text_per_document()
    {
        var value = $$"""{"documents": [{{File("a.txt")}}]}""";
        Valid(Step1("Document.WithTextIn", "{}", value, """{"texts": ["a"]}"""));
        Invalid(Step1("Document.WithTextIn", "{}", value, """{"texts": ["a", "b"]}"""), "expected 1 text(s) (one per document), got 2");
    }

    // ---- inputs as a whole ------------------------------------------------------------------

    [Fact]
    public void Unknown_and_missing_inputs_are_named()
    {
        var metadata = Metadata("""[{"name": "x", "component": "Text.In", "props": {}}]""",
            """[{"name": "shown", "component": "Text.View", "props": {}}, {"name": "carried", "component": "Json", "props": {}}]""");
        var missing = Assert.Single(StepInputValidator.Validate(metadata, 0, J("{}"), null));
        Assert.Equal(new StepInputError("x", "missing response for input 'x' (Text.In)"), missing);

        var unknown = StepInputValidator.Validate(metadata, 0, J("""{"x": {"texts": ["a"]}, "y": 1}"""), null);
        Assert.Equal(new StepInputError("y", "step 'first' has no input 'y' that takes a response (inputs that do: x)"), Assert.Single(unknown));

        // A view or a plain JSON value takes no response.
        var view = StepInputValidator.Validate(metadata, 1, J("""{"shown": {}}"""), J("""[{"name": "shown", "component": "Text.View", "props": {}, "value": {"texts": []}}]"""));
        Assert.Equal(new StepInputError("shown", "step 'second' has no input 'shown' that takes a response (it takes none)"), Assert.Single(view));
        Assert.Empty(StepInputValidator.Validate(metadata, 1, J("{}"), J("[]")));
        Assert.Equal("'responses' must be an object keyed by input name, got list",
            Assert.Single(StepInputValidator.Validate(metadata, 0, J("[]"), null)).Message);
    }

    [Fact]
    public void A_later_step_is_checked_against_what_the_previous_step_offered_not_the_metadata()
    {
        var declared = """[{"name": "x", "component": "List.SelectOne", "props": {}}]""";
        var metadata = Metadata("[]", declared);
        var offered = J("""[{"name": "x", "component": "List.SelectOne", "props": {}, "value": {"items": ["only"]}}]""");
        Assert.Empty(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""), offered));
        Assert.Equal("selected: index 1 is out of range (0..0)",
            Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 1}}"""), offered)).Message);

        var nothing = Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""), J("[]")));
        Assert.Equal(new StepInputError("x", "step 0 offered no output named 'x' (List.SelectOne); run step 0 again"), nothing);
        var other = Assert.Single(StepInputValidator.Validate(metadata, 1, J("""{"x": {"selected": 0}}"""),
            J("""[{"name": "x", "component": "List.SelectMulti", "props": {}, "value": {"items": ["a"], "preselected": []}}]""")));
        Assert.Equal("step 0 offered a List.SelectMulti as 'x', the model declares List.SelectOne", other.Message);
    }

    [Fact]
    public void The_problem_names_the_step_and_every_wrong_input()
    {
        var metadata = Metadata("""[{"name": "a", "component": "Text.In", "props": {"max_chars": 2}}, {"name": "b", "component": "Text.In", "props": {}}]""");
        var problem = StepInputValidator.Problem(metadata, 0, J("""{"a": {"texts": ["abc"]}}"""), null)!.ProblemDetails;
        Assert.Equal(400, problem.Status);
        Assert.Equal(0, problem.Extensions["step"]);
        Assert.Equal("a", problem.Extensions["input"]);
        var errors = Assert.IsType<Dictionary<string, string[]>>(problem.Extensions["errors"]);
        Assert.Equal(["text 0: 3 characters, at most 2 allowed"], errors["steps/0/a"]);
        Assert.Equal(["missing response for input 'b' (Text.In)"], errors["steps/0/b"]);
        Assert.Contains("step 0 (first)", problem.Detail);
        Assert.Null(StepInputValidator.Problem(metadata, 0, J("""{"a": {"texts": ["ab"]}, "b": {"texts": ["x"]}}"""), null));
    }
}

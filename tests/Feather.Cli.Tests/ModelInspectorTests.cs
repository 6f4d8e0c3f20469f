using System.Text.Json.Nodes;
using Feather.Cli.Publishing;

namespace Feather.Cli.Tests;

/// <summary>
/// <c>feather publish</c>'s inspection, run with this machine's Python and the SDK embedded in the CLI: one Python
/// process finds the SDK (the user's own first, else the embedded one) and inspects the model.
/// </summary>
public sealed class ModelInspectorTests : IDisposable
{
    private readonly TempDir _model = new();
    private readonly TempDir _cache = new();
    private readonly Dictionary<string, string?> _variables = new() { ["FEATHER_PYTHON"] = "/usr/bin/python3" };

    public ModelInspectorTests() => _variables["XDG_CACHE_HOME"] = _cache.Path;

    public void Dispose()
    {
        _model.Dispose();
        _cache.Dispose();
    }

    private ModelInspector Inspector() => new(new CliEnvironment
    {
        Out = TextWriter.Null,
        Err = TextWriter.Null,
        In = TextReader.Null,
        GetVariable = name => _variables.GetValueOrDefault(name),
    });

    private const string Model = """
        import feather as ftr


        def init():
            return ftr.Text.In(default_text="x", title="Anything")


        @ftr.step(title="Echo", outputs=["echoed"])
        def echo(x: ftr.Text.In) -> ftr.Text.View:
            return ftr.Text.View(x.texts[0])


        ftr.build(name="Inspected Model", init=init, steps=[echo])
        """;

    [Fact]
    public async Task A_model_is_inspected_with_the_embedded_sdk_when_python_has_none()
    {
        _model.File("model.py", Model);

        var metadata = await Inspector().InspectAsync(_model.Path, CancellationToken.None);

        Assert.Equal("inspected-model", metadata["name"]?.GetValue<string>()); // the display name, made a slug
        Assert.Single(Directory.GetDirectories(Path.Combine(_cache.Path, "feather"), "sdk-*"));
    }

    [Fact]
    public async Task The_users_own_sdk_on_pythonpath_comes_first()
    {
        using var own = new TempDir();
        own.File("feather/__init__.py", "");
        own.File("feather/__main__.py", "import json, sys\nprint(json.dumps({'sdk': 'own', 'argv': sys.argv[1:]}))\n");
        _variables["PYTHONPATH"] = own.Path;
        _model.File("model.py", Model);

        var metadata = await Inspector().InspectAsync(_model.Path, CancellationToken.None);

        Assert.Equal("own", metadata["sdk"]?.GetValue<string>());
        Assert.Equal(["inspect", _model.Path], metadata["argv"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [Fact]
    public async Task A_model_that_fails_at_import_is_refused_with_pythons_message()
    {
        _model.File("model.py", "import feather as ftr\nraise RuntimeError('weights folder is missing')\n");

        var e = await Assert.ThrowsAsync<CliException>(() => Inspector().InspectAsync(_model.Path, CancellationToken.None));

        Assert.Equal(ExitCodes.ValidationFailed, e.Code);
        Assert.Contains("does not inspect cleanly", e.Message);
        Assert.Contains("weights folder is missing", e.Message);
    }

    [Fact]
    public async Task An_sdk_that_cannot_be_imported_is_named_with_the_reason()
    {
        _model.File("model.py", Model);
        // the extracted SDK of this CLI, broken on purpose (extraction is skipped once its folder is complete)
        var extracted = EmbeddedSdk.Extract(EmbeddedSdk.Load(typeof(ModelInspector).Assembly), Path.Combine(_cache.Path, "feather"));
        File.WriteAllText(Path.Combine(extracted, "feather", "__init__.py"), "raise ImportError('needs a newer python')\n");

        var e = await Assert.ThrowsAsync<CliException>(() => Inspector().InspectAsync(_model.Path, CancellationToken.None));

        Assert.Equal(ExitCodes.Error, e.Code);
        Assert.Contains("cannot import the Feather SDK extracted to " + extracted, e.Message);
        Assert.Contains("needs a newer python", e.Message);
    }
}

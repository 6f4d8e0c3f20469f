using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Feather.EndToEnd.Tests.Portal;

/// <summary>File.Upload takes the types the model names (here a .pt extension and audio/*), in the portal as on the server.</summary>
[Collection("portal")]
public sealed class UploadTypesTests(PortalFixture fx) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("feather-pt-upload-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private const string ModelPy = """
        import feather as ftr


        def init():
            return ftr.File.Upload(types=[".pt", "audio/*"], max_files=1, title="Checkpoint")


        @ftr.step(title="Measure", outputs=["size"])
        def measure(checkpoint: ftr.File.Upload) -> ftr.Text.View:
            f = checkpoint.get()[0]
            return ftr.Text.View(f"{f.name}: {len(f.data)} bytes", title="Size")


        ftr.build(name="pt-upload", init=init, steps=[measure], description="Takes a PyTorch checkpoint.")
        """;

    [Fact]
    public async Task A_pt_upload_is_accepted_by_a_model_that_asks_for_it_and_others_are_refused_at_once()
    {
        File.WriteAllText(Path.Combine(dir, "model.py"), ModelPy);
        var publish = await fx.Server.Cli("publish", dir, "--visibility", "public", "--wait");
        Assert.True(publish.ExitCode == 0, publish.ToString());

        var page = await fx.NewPage();
        await page.GotoAsync("/models/admin/pt-upload");
        var upload = page.GetByRole(AriaRole.Group, new() { Name = "Checkpoint" });
        var input = upload.GetByLabel("Choose a file or drop it here");
        await Expect(input).ToHaveAttributeAsync("accept", ".pt,audio/*");

        var other = Path.Combine(dir, "notes.txt");
        await File.WriteAllTextAsync(other, "not a checkpoint");
        await input.SetInputFilesAsync(other);
        await Expect(upload.GetByRole(AriaRole.Alert)).ToContainTextAsync("notes.txt: type .txt is not accepted; use .pt, audio/*");
        await upload.GetByRole(AriaRole.Button, new() { Name = "Remove notes.txt" }).ClickAsync();

        var checkpoint = Path.Combine(dir, "model.pt");
        await File.WriteAllBytesAsync(checkpoint, [0x80, 0x02, .. new byte[1000]]);
        await input.SetInputFilesAsync(checkpoint);
        await Expect(upload.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Button, new() { Name = "Run “Measure”" }).ClickAsync();
        await Expect(page.GetByText("model.pt: 1002 bytes")).ToBeVisibleAsync(new() { Timeout = 180_000 });
    }
}

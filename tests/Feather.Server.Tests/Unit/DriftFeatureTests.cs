using Feather.Server.Monitoring;
using SkiaSharp;

namespace Feather.Server.Tests.Unit;

public class DriftFeatureTests
{
    private static byte[] Png(int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(color);
        using var image = SKImage.FromBitmap(bitmap);
        return image.Encode(format, 90).ToArray();
    }

    private static Dictionary<string, double> Measure(byte[] bytes)
    {
        var found = new Dictionary<string, double>();
        Features.Image(bytes, (k, v) => found[k] = v);
        return found;
    }

    [Fact]
    public void Images_give_their_size_brightness_and_channel_means()
    {
        var dark = Measure(Png(640, 480, new SKColor(10, 20, 30)));
        Assert.Equal(640, dark["width"]);
        Assert.Equal(480, dark["height"]);
        Assert.InRange(dark["red"], 9, 11);
        Assert.InRange(dark["blue"], 29, 31);
        Assert.InRange(dark["brightness"], 15, 25);
        var bright = Measure(Png(100, 50, new SKColor(250, 240, 230), SKEncodedImageFormat.Jpeg));
        Assert.Equal(100, bright["width"]);
        Assert.InRange(bright["brightness"], 230, 250);
    }

    [Fact]
    public void Bytes_that_are_no_image_give_nothing()
    {
        Assert.Empty(Measure("not an image"u8.ToArray()));
    }

    [Fact]
    public void The_population_stability_index_is_zero_for_the_same_distribution_and_large_for_a_shifted_one()
    {
        Counts Of(params int[] bins)
        {
            var c = new Counts();
            foreach (var b in bins) c.Add(b, b);
            return c;
        }
        var reference = Of(1, 1, 2, 2, 3, 3, 1, 2);
        Assert.Equal(0, MonitoringService.Psi(reference, Of(1, 1, 2, 2, 3, 3, 1, 2), 5), 6);
        Assert.True(MonitoringService.Psi(reference, Of(4, 4, 4, 4, 4, 4, 4, 4), 5) > 1);
    }

    [Fact]
    public void Step_json_gives_text_selection_and_list_features()
    {
        var found = Features.Extract(1, """{"q": {"texts": ["abc1"]}, "pick": {"selected": [0, 2]}}""",
            """[{"name": "out", "component": "List.SelectOne", "value": {"items": ["a", "b"]}}, {"name": "t", "component": "Text.View", "value": {"texts": ["cat"]}}]""");
        Assert.Contains(found, o => o.Key == "1/input/q/length" && o.Value == 4);
        Assert.Contains(found, o => o.Key == "1/input/q/digits" && o.Value == 0.25);
        Assert.Equal(["0", "2"], found.Where(o => o.Key == "1/input/pick/choices").Select(o => o.Category!).ToArray());
        Assert.Contains(found, o => o.Key == "1/output/out/items" && o.Value == 2);
        Assert.Contains(found, o => o.Key == "1/output/t/labels" && o.Category == "cat");
    }
}

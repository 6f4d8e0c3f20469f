using System.Text;
using System.Text.Json.Nodes;
using Feather.Server.Sandbox;

namespace Feather.Server.Tests.Unit;

/// <summary>A version image built on a runner from before step files gets its files inline, as protocol 1.</summary>
public class StepProtocolTests
{
    [Fact]
    public async Task A_protocol_1_request_carries_each_input_file_inline_and_no_file_area()
    {
        var request = new JsonObject
        {
            ["protocol"] = 2,
            ["entrypoint"] = "model.py",
            ["step"] = 1,
            ["files"] = "/feather/io",
            ["responses"] = new JsonObject
            {
                ["weights"] = new JsonObject { ["files"] = new JsonArray(new JsonObject { ["name"] = "w.pt", ["media_type"] = "application/octet-stream", ["path"] = "in/aa11" }) },
                ["note"] = new JsonObject { ["texts"] = new JsonArray("a path-like text: in/aa11") },
            },
            ["previous"] = new JsonArray(new JsonObject
            {
                ["name"] = "copy", ["component"] = "File.Download",
                ["value"] = new JsonObject { ["files"] = new JsonArray(new JsonObject { ["name"] = "back.pt", ["media_type"] = "application/octet-stream", ["path"] = "in/bb22" }) },
            }),
        };
        StepInputFile Input(string path, string text) => new(path, Encoding.UTF8.GetByteCount(text), () => new MemoryStream(Encoding.UTF8.GetBytes(text)));

        var downgraded = JsonNode.Parse(await StepFileArea.ToProtocol1Async(request.ToJsonString(), [Input("in/aa11", "tensor"), Input("in/bb22", "copy!")], default))!;

        Assert.Equal(1, downgraded["protocol"]!.GetValue<int>());
        Assert.Null(downgraded["files"]);
        Assert.Equal("""{"name":"w.pt","media_type":"application/octet-stream","data":"dGVuc29y"}""",
            downgraded["responses"]!["weights"]!["files"]![0]!.ToJsonString());
        Assert.Equal(Convert.ToBase64String("copy!"u8.ToArray()), downgraded["previous"]![0]!["value"]!["files"]![0]!["data"]!.GetValue<string>());
        Assert.Null(downgraded["previous"]![0]!["value"]!["files"]![0]!["path"]);
        // only file references are touched
        Assert.Equal("a path-like text: in/aa11", downgraded["responses"]!["note"]!["texts"]![0]!.GetValue<string>());
        Assert.Equal("model.py", downgraded["entrypoint"]!.GetValue<string>());
    }
}

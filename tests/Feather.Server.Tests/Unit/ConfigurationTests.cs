using Feather.Server.Configuration;
using Feather.Server.Runs;
using Microsoft.Extensions.Configuration;

namespace Feather.Server.Tests.Unit;

public class ConfigurationTests
{
    private static FeatherOptions Read(params (string Key, string Value)[] values) =>
        FeatherOptions.FromConfiguration(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build());

    [Fact]
    public void Defaults_bind_loopback_port_8080_and_data_under_the_working_directory()
    {
        var o = Read();
        Assert.Equal(8080, o.Port);
        Assert.Equal("127.0.0.1", o.Bind);
        Assert.Equal(Path.GetFullPath("./data"), o.DataDirectory);
        Assert.Equal("feather-runner:latest", o.RunnerBaseImage);
    }

    [Fact]
    public void Every_bad_key_is_named_with_what_is_allowed()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Read(
            ("FEATHER_PORT", "eighty"), ("FEATHER_BIND", "not-an-ip"), ("FEATHER_MAX_FILES", "0"), ("FEATHER_ADMIN_PASSWORD", "short")));
        Assert.Contains("FEATHER_PORT: 'eighty' is not a whole number between 0 and 65535", e.Message);
        Assert.Contains("FEATHER_BIND", e.Message);
        Assert.Contains("FEATHER_MAX_FILES", e.Message);
        Assert.Contains("FEATHER_ADMIN_PASSWORD: must be at least 8 characters", e.Message);
    }

    [Fact]
    public void Values_are_read_from_flat_keys()
    {
        var o = Read(("FEATHER_PORT", "9001"), ("FEATHER_BIND", "0.0.0.0"), ("FEATHER_MAX_FILE_BYTES", "1024"), ("Runner:BaseImage", "r:1"));
        Assert.Equal(9001, o.Port);
        Assert.Equal("0.0.0.0", o.Bind);
        Assert.Equal(1024, o.MaxFileBytes);
        Assert.Equal("r:1", o.RunnerBaseImage);
    }

    [Theory]
    [InlineData("wait=10", 10)]
    [InlineData("respond-async, wait=5", 5)]
    [InlineData("return=minimal", 0)]
    [InlineData("wait=abc", 0)]
    public void Prefer_wait_is_parsed(string header, int seconds) =>
        Assert.Equal(seconds, RunsApi.PreferredWait([header]));
}

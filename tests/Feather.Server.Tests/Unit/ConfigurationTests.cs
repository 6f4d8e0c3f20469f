using Feather.Server.Configuration;
using Feather.Server.Runs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

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
        var e = Assert.Throws<OptionsValidationException>(() => Read(
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

    [Fact]
    public void Values_are_read_through_the_options_pattern()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FEATHER_PORT"] = "9002", ["FEATHER_TRUSTED_PROXIES"] = "10.0.0.2, 10.0.0.3", ["FEATHER_RUNNER_IMAGE"] = "r:2",
            ["FEATHER_DATA"] = "/srv/feather",
        }).Build();
        using var provider = new ServiceCollection().AddFeatherOptions(config).BuildServiceProvider();
        var o = provider.GetRequiredService<FeatherOptions>();
        Assert.Equal(9002, o.Port);
        Assert.Equal(["10.0.0.2", "10.0.0.3"], o.TrustedProxies.Select(p => p.ToString()).ToArray());
        Assert.Equal("r:2", o.RunnerBaseImage);
        Assert.Equal("/srv/feather", o.DataDirectory);
        Assert.Equal("9002", provider.GetRequiredService<IOptions<FeatherSettings>>().Value.Port);
    }

    [Fact]
    public async Task A_bad_value_fails_the_start_with_its_key_and_what_is_allowed()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FEATHER_PUBLISH_TTL_SECONDS"] = "forever", ["FEATHER_TRUSTED_PROXIES"] = "proxy.lan",
        }).Build();
        using var host = new HostBuilder().ConfigureServices(s => s.AddFeatherOptions(config)).Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("FEATHER_PUBLISH_TTL_SECONDS: 'forever' is not a whole number between 1 and 604800", e.Failures);
        Assert.Contains("FEATHER_TRUSTED_PROXIES: 'proxy.lan' is not an IP address (a comma-separated list, e.g. 127.0.0.1,10.0.0.2)", e.Failures);
    }

    [Fact]
    public void The_server_does_not_build_with_a_bad_value()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Program.BuildApp(["--FEATHER_BIND=everywhere", "--FEATHER_MAX_WAIT_SECONDS=-1"]));
        Assert.Contains("FEATHER_BIND: 'everywhere' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::), 'localhost' or '*'", e.Failures);
        Assert.Contains("FEATHER_MAX_WAIT_SECONDS: '-1' is not a whole number between 0 and 3600", e.Failures);
    }

    [Theory]
    [InlineData("wait=10", 10)]
    [InlineData("respond-async, wait=5", 5)]
    [InlineData("return=minimal", 0)]
    [InlineData("wait=abc", 0)]
    public void Prefer_wait_is_parsed(string header, int seconds) =>
        Assert.Equal(seconds, RunsApi.PreferredWait([header]));
}

using System.Text;
using Feather.Server.Environments;
using Feather.Server.Sandbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Environments;

/// <summary>The build settings' defaults and checks, and the bounded build log.</summary>
public class BuildSettingsTests
{
    private static RunnerOptions Bind(Dictionary<string, string?> values)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        using var provider = new ServiceCollection().AddLogging().AddRunner(config).BuildServiceProvider();
        return provider.GetRequiredService<IOptions<RunnerOptions>>().Value;
    }

    [Fact]
    public void Builds_default_to_ten_minutes_two_at_once_a_bounded_log_and_no_package_source()
    {
        var o = Bind([]);
        Assert.Equal(600, o.BuildTimeoutSeconds);
        Assert.Equal(2, o.MaxConcurrentBuilds);
        Assert.Equal(256 * 1024, o.MaxBuildLogBytes);
        Assert.Equal("bridge", o.BuildNetwork);
        Assert.Equal("3.11", o.PythonVersion);
        Assert.Null(o.PythonIndexUrl);
        Assert.Null(o.WheelhouseUrl);
    }

    [Fact]
    public void Bad_build_settings_fail_at_start_naming_the_key()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Bind(new()
        {
            ["Runner:MaxConcurrentBuilds"] = "0",
            ["Runner:MaxBuildLogBytes"] = "10",
            ["Runner:BuildNetwork"] = "host; rm",
            ["Runner:PythonVersion"] = "3",
        }));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:MaxConcurrentBuilds must be between 1 and 64 (got 0)"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:MaxBuildLogBytes must be at least 1024 (got 10)"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:BuildNetwork must name a Docker network"));
        Assert.Contains(ex.Failures, f => f.Contains("Runner:PythonVersion must be the runner image's Python as major.minor"));
    }

    [Fact]
    public void A_short_log_is_kept_whole()
    {
        var log = new BuildLog(1024);
        log.Append("one");
        log.Append("two");
        Assert.Equal("one\ntwo\n", log.ToString());
        Assert.False(log.Truncated);
    }

    [Fact]
    public void A_long_log_keeps_its_first_and_last_half_with_a_marker_between()
    {
        var log = new BuildLog(4096);
        for (var i = 0; i < 10_000; i++) log.Append($"line {i:D5} " + new string('x', 40));
        var text = log.ToString();
        Assert.True(log.Truncated);
        Assert.True(Encoding.UTF8.GetByteCount(text) <= 4096 + 200, $"{text.Length} chars");
        Assert.StartsWith("line 00000 ", text);
        Assert.EndsWith("line 09999 " + new string('x', 40) + "\n", text);
        var marker = Assert.Single(text.Split('\n'), l => l.StartsWith(BuildLog.MarkerStart, StringComparison.Ordinal));
        Assert.Matches(@"^\[feather: \d+ line\(s\), \d+ bytes of the build log left out; the log keeps its first and last 2 KiB \(Runner:MaxBuildLogBytes\)\]$", marker);
    }

    [Fact]
    public void One_huge_line_is_cut()
    {
        var log = new BuildLog(2048);
        log.Append(new string('é', 100_000));
        log.Append("end");
        var text = log.ToString();
        Assert.True(Encoding.UTF8.GetByteCount(text) <= 2048 + 200, $"{text.Length} chars");
        Assert.Contains("…[line cut]", text);
        Assert.EndsWith("end\n", text);
    }
}

using Feather.Server.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Feather.Server.Tests.Unit;

public class RetentionSettingsTests
{
    [Theory]
    [InlineData("Retention:SweepMinutes", "0", "Retention:SweepMinutes must be between")]
    [InlineData("Retention:AnonymousRunHours", "-1", "Retention:AnonymousRunHours must be 0 (keep) or more")]
    [InlineData("Monitoring:MinCount", "0", "Monitoring:MinCount must be 1 or more")]
    [InlineData("Usage:CostWeights:high", "-2", "Usage:CostWeights: every weight must be a number 0 or more")]
    public async Task A_bad_setting_stops_the_server_at_start_naming_the_key(string key, string value, string message)
    {
        var data = Directory.CreateTempSubdirectory("feather-settings-").FullName;
        try
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
                FeatherTestServer.StartAsync(new Dictionary<string, string> { [key] = value }, dataDirectory: data));
            Assert.Contains(message, error.Message);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}

using Feather.Server.Auth;

namespace Feather.Server.Tests.Unit;

public sealed class LoginThrottleTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Ten_wrong_passwords_in_a_minute_block_the_address_and_the_username_until_the_minute_is_over()
    {
        var clock = new Clock();
        var throttle = new LoginThrottle(clock);
        for (var i = 0; i < LoginThrottle.MaxFailures - 1; i++) throttle.Failed("10.0.0.1", "ada");
        Assert.Null(throttle.RetryAfter("10.0.0.1", "ada"));

        throttle.Failed("10.0.0.1", "ada");
        clock.Now += TimeSpan.FromSeconds(20);
        Assert.Equal(40, throttle.RetryAfter("10.0.0.1", "ada"));
        Assert.Equal(40, throttle.RetryAfter("10.0.0.1", "bob"));   // the address is blocked for every name
        Assert.Equal(40, throttle.RetryAfter("10.0.0.2", "ADA"));   // and the name from every address
        Assert.Null(throttle.RetryAfter("10.0.0.2", "bob"));

        clock.Now += TimeSpan.FromSeconds(40);
        Assert.Null(throttle.RetryAfter("10.0.0.1", "ada"));
    }
}

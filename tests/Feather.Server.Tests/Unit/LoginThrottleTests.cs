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
    public void Wrong_passwords_for_one_account_from_one_address_block_that_pair_until_the_minute_is_over()
    {
        var clock = new Clock();
        var throttle = new LoginThrottle(clock);
        for (var i = 0; i < LoginThrottle.PairFailures - 1; i++) throttle.Failed("10.0.0.1", "ada", knownAddress: false);
        Assert.Null(throttle.RetryAfter("10.0.0.1", "ada", knownAddress: false));

        throttle.Failed("10.0.0.1", "ada", knownAddress: false);
        clock.Now += TimeSpan.FromSeconds(20);
        Assert.Equal(40, throttle.RetryAfter("10.0.0.1", "ADA", knownAddress: false));
        Assert.Equal(40, throttle.RetryAfter("10.0.0.1", "ada", knownAddress: true));   // the owner on the attacker's address too
        Assert.Null(throttle.RetryAfter("10.0.0.1", "bob", knownAddress: false));      // other accounts from that address are not
        Assert.Null(throttle.RetryAfter("10.0.0.2", "ada", knownAddress: false));      // nor the account from other addresses

        clock.Now += TimeSpan.FromSeconds(40);
        Assert.Null(throttle.RetryAfter("10.0.0.1", "ada", knownAddress: false));
    }

    [Fact]
    public void One_address_guessing_many_names_is_blocked_for_every_name()
    {
        var throttle = new LoginThrottle(new Clock());
        for (var i = 0; i < LoginThrottle.AddressFailures; i++) throttle.Failed("10.0.0.1", $"user{i}", knownAddress: false);
        Assert.NotNull(throttle.RetryAfter("10.0.0.1", "ada", knownAddress: true));
        Assert.Null(throttle.RetryAfter("10.0.0.2", "ada", knownAddress: false));
    }

    [Fact]
    public void Many_addresses_guessing_one_account_block_it_only_for_addresses_it_never_signed_in_from()
    {
        var throttle = new LoginThrottle(new Clock());
        for (var i = 0; i < 50; i++)
        {
            var attacker = $"198.51.100.{i}";
            if (throttle.RetryAfter(attacker, "admin", knownAddress: false) is null) throttle.Failed(attacker, "admin", knownAddress: false);
        }
        Assert.NotNull(throttle.RetryAfter("203.0.113.7", "admin", knownAddress: false)); // a new address is refused
        Assert.Null(throttle.RetryAfter("192.0.2.1", "admin", knownAddress: true));       // the owner's usual address is not
        Assert.Null(throttle.RetryAfter("203.0.113.7", "bob", knownAddress: false));      // nor other accounts
    }

    [Fact]
    public void Wrong_passwords_from_a_known_address_do_not_count_against_the_account()
    {
        var throttle = new LoginThrottle(new Clock());
        for (var i = 0; i < LoginThrottle.AccountFailures * 3; i++)
            throttle.Failed($"192.0.2.{i}", "ada", knownAddress: true);
        Assert.Null(throttle.RetryAfter("203.0.113.7", "ada", knownAddress: false));
    }
}

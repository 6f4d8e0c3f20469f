using Feather.Cli.Config;

namespace Feather.Cli.Tests;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class ConfigTests
{
    private static CliEnvironment Env(Dictionary<string, string> variables) => new()
    {
        Out = TextWriter.Null, Err = TextWriter.Null, In = TextReader.Null,
        GetVariable = name => variables.TryGetValue(name, out var v) ? v : null,
    };

    [Fact]
    public void Credentials_file_is_created_with_mode_0600_atomically_and_stays_0600_when_replaced()
    {
        using var dir = new TempDir();
        var store = new CredentialStore(Path.Combine(dir.Path, "feather", "credentials.json"));
        store.Save(new Credentials("http://a:8080", "secret-1", "alice", "t1"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.Path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(store.Path)!));
        Assert.False(store.IsTooOpen());

        File.SetUnixFileMode(store.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.True(store.IsTooOpen());
        store.Save(new Credentials("http://a:8080", "secret-2", "alice", "t2"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.Path));
        Assert.Equal("secret-2", store.Load()!.Token);
        Assert.Equal(["credentials.json"], Directory.GetFiles(Path.GetDirectoryName(store.Path)!).Select(Path.GetFileName));

        Assert.True(store.Delete());
        Assert.Null(store.Load());
        Assert.False(store.Delete());
    }

    [Fact]
    public void A_corrupt_credentials_file_says_how_to_recover()
    {
        using var dir = new TempDir();
        var store = new CredentialStore(dir.File("credentials.json", "{not json"));
        var e = Assert.Throws<CliException>(() => store.Load());
        Assert.Equal(ExitCodes.NotLoggedIn, e.Code);
        Assert.Contains("feather login", e.Hint);
    }

    [Fact]
    public void Config_directory_follows_xdg_then_home()
    {
        Assert.Equal("/x/feather/credentials.json", ConfigPaths.CredentialsFile(Env(new() { ["XDG_CONFIG_HOME"] = "/x", ["HOME"] = "/h" })));
        Assert.Equal("/h/.config/feather/credentials.json", ConfigPaths.CredentialsFile(Env(new() { ["HOME"] = "/h" })));
        Assert.Equal("/h/.cache/feather", ConfigPaths.CacheDirectory(Env(new() { ["HOME"] = "/h" })));
    }

    [Fact]
    public void Url_precedence_is_env_then_stored_login_then_default()
    {
        var stored = new Credentials("http://stored:9000", "stored-token", "alice");
        Assert.Equal("http://127.0.0.1:8080/", ServerSettings.Resolve(Env(new()), null).Url.ToString());
        Assert.Equal("http://stored:9000/", ServerSettings.Resolve(Env(new()), stored).Url.ToString());
        Assert.Equal("http://env:7000/", ServerSettings.Resolve(Env(new() { ["FEATHER_URL"] = "http://env:7000" }), stored).Url.ToString());
    }

    [Fact]
    public void Token_precedence_is_env_then_stored_and_a_stored_token_never_goes_to_another_server()
    {
        var stored = new Credentials("http://stored:9000", "stored-token", "alice");
        var fromLogin = ServerSettings.Resolve(Env(new()), stored);
        Assert.Equal(("stored-token", "login"), (fromLogin.Token, fromLogin.TokenSource));

        var fromEnv = ServerSettings.Resolve(Env(new() { ["FEATHER_TOKEN"] = "env-token" }), stored);
        Assert.Equal(("env-token", "FEATHER_TOKEN"), (fromEnv.Token, fromEnv.TokenSource));

        var otherServer = ServerSettings.Resolve(Env(new() { ["FEATHER_URL"] = "http://elsewhere:9000" }), stored);
        Assert.Null(otherServer.Token);

        var sameServer = ServerSettings.Resolve(Env(new() { ["FEATHER_URL"] = "http://STORED:9000/" }), stored);
        Assert.Equal("stored-token", sameServer.Token);
    }

    [Theory]
    [InlineData("localhost:8080", "http://localhost:8080/")]
    [InlineData("https://feather.lab/prefix", "https://feather.lab/prefix/")]
    public void Urls_are_normalised(string given, string expected) => Assert.Equal(expected, ServerSettings.ParseUrl(given, "test").ToString());

    [Theory]
    [InlineData("ftp://x")]
    [InlineData("http://")]
    public void Bad_urls_are_usage_errors(string given) =>
        Assert.Equal(ExitCodes.Usage, Assert.Throws<CliException>(() => ServerSettings.ParseUrl(given, "test")).Code);
}

namespace Feather.Cli.Config;

/// <summary>Where the CLI keeps state: XDG base directories with the usual fallbacks under $HOME.</summary>
public static class ConfigPaths
{
    public static string ConfigDirectory(CliEnvironment env) =>
        Path.Combine(env.Variable("XDG_CONFIG_HOME") ?? Path.Combine(Home(env), ".config"), "feather");

    public static string CredentialsFile(CliEnvironment env) => Path.Combine(ConfigDirectory(env), "credentials.json");

    public static string CacheDirectory(CliEnvironment env) =>
        Path.Combine(env.Variable("XDG_CACHE_HOME") ?? Path.Combine(Home(env), ".cache"), "feather");

    private static string Home(CliEnvironment env)
    {
        var home = env.Variable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length > 0 ? home
            : throw new CliException(ExitCodes.Error, "cannot find your home directory", "set HOME or XDG_CONFIG_HOME");
    }
}

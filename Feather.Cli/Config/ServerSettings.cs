namespace Feather.Cli.Config;

/// <summary>
/// Which server to talk to and with which token. Precedence, highest first:
/// URL: FEATHER_URL, the stored login's URL, http://127.0.0.1:8080.
/// Token: FEATHER_TOKEN, then the stored token, but only when it was issued by the same server
/// (a stored token is never sent to another server that FEATHER_URL points at).
/// </summary>
public sealed record ServerSettings(Uri Url, string? Token, string? Username, string TokenSource)
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static ServerSettings Resolve(CliEnvironment env, Credentials? stored)
    {
        var url = env.Variable("FEATHER_URL") is { } fromEnv ? ParseUrl(fromEnv, "FEATHER_URL")
            : stored is not null ? ParseUrl(stored.Url, "the stored login")
            : ParseUrl(DefaultUrl, "the default");

        if (env.Variable("FEATHER_TOKEN") is { } token) return new ServerSettings(url, token, null, "FEATHER_TOKEN");
        if (stored is not null && SameServer(ParseUrl(stored.Url, "the stored login"), url))
            return new ServerSettings(url, stored.Token, stored.Username, "login");
        return new ServerSettings(url, null, null, "none");
    }

    /// <summary>Accepts <c>http(s)://host[:port][/prefix]</c>; a bare <c>host:port</c> gets http://.</summary>
    public static Uri ParseUrl(string text, string source)
    {
        var candidate = text.Trim();
        if (!candidate.Contains("://", StringComparison.Ordinal)) candidate = "http://" + candidate;
        if (!Uri.TryCreate(candidate, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new CliException(ExitCodes.Usage, $"'{text}' from {source} is not a server URL", "use a URL like http://127.0.0.1:8080");
        var path = uri.AbsolutePath.EndsWith('/') ? uri.AbsolutePath : uri.AbsolutePath + "/";
        return new UriBuilder(uri.Scheme, uri.Host, uri.Port, path).Uri;
    }

    public static bool SameServer(Uri a, Uri b) =>
        Uri.Compare(a, b, UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    public string Display => Url.ToString().TrimEnd('/');
}

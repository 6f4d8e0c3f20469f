using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Feather.Server.Portal;

/// <summary>
/// The web portal: static files embedded in the binary (Portal/static/**, logical names
/// <c>portal/…</c>), served with their content type, an ETag and a cache policy; the portal's
/// client-side routes fall back to <c>index.html</c>. <c>/api</c>, <c>/openapi</c> and
/// <c>/healthz</c> are never answered here, except the API reference pages <c>/api/docs</c> and
/// <c>/api/models/{owner}/{model}/docs</c> (static/api-docs.html with the vendored Swagger UI).
/// </summary>
public static class PortalApi
{
    private const string Prefix = "portal/";

    /// <summary>The first path segments the single-page app routes itself.</summary>
    private static readonly string[] AppRoutes = ["models", "runs", "embed", "login", "me", "owners", "datasets", "leaderboards"];

    private static readonly string[] GetOrHead = [HttpMethods.Get, HttpMethods.Head];

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
        [".json"] = "application/json; charset=utf-8",
        [".txt"] = "text/plain; charset=utf-8",
    }.ToFrozenDictionary();

    private sealed record Asset(byte[] Body, string ContentType, string ETag);

    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(Load);

    public static IEndpointRouteBuilder MapPortal(this IEndpointRouteBuilder app)
    {
        app.MapMethods("/", GetOrHead, (HttpContext http) => Serve(http, "index.html", isShell: true)).ExcludeFromDescription();
        // The interactive API reference (Swagger UI) of the server's document and of each model's.
        app.MapMethods("/api/docs", GetOrHead, (HttpContext http) => Serve(http, "api-docs.html", isShell: true)).ExcludeFromDescription();
        app.MapMethods("/api/models/{owner}/{model}/docs", GetOrHead, (HttpContext http) => Serve(http, "api-docs.html", isShell: true))
            .ExcludeFromDescription();
        app.MapMethods("/{**path}", GetOrHead, (string path, HttpContext http) =>
        {
            var first = path.Split('/', 2)[0];
            if (first is "api" or "openapi" or "healthz")
                return Results.Problem(statusCode: 404, title: "Not found", detail: $"no route /{path}");
            if (Assets.Value.ContainsKey(path)) return Serve(http, path, isShell: path == "index.html");
            if (AppRoutes.Contains(first)) return Serve(http, "index.html", isShell: true);
            return Results.Problem(statusCode: 404, title: "Not found", detail: $"no page or file /{path}");
        }).ExcludeFromDescription();
        return app;
    }

    /// <summary>The names of the embedded portal files (for tests and diagnostics).</summary>
    public static IReadOnlyCollection<string> Files => Assets.Value.Keys;

    private static IResult Serve(HttpContext http, string name, bool isShell)
    {
        var asset = Assets.Value[name];
        var headers = http.Response.Headers;
        // The shell is revalidated every time so a new binary's portal is picked up at once;
        // the other files are small and revalidated cheaply through their ETag.
        headers.CacheControl = isShell ? "no-cache" : "public, max-age=300, must-revalidate";
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        if (isShell)
        {
            // Everything the portal needs comes from this server; /embed pages may be framed anywhere.
            headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; " +
                "script-src 'self'; connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'self'" +
                (http.Request.Path.StartsWithSegments("/embed") ? "" : "; frame-ancestors 'self'");
            headers["Referrer-Policy"] = "same-origin";
        }
        if (http.Request.Headers.IfNoneMatch.Contains(asset.ETag))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Body, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(PortalApi).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            var name = resource[Prefix.Length..].Replace('\\', '/');
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var body = buffer.ToArray();
            var type = ContentTypes.GetValueOrDefault(Path.GetExtension(name), "application/octet-stream");
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(body))[..16] + "\"";
            assets[name] = new Asset(body, type, etag);
        }
        if (!assets.ContainsKey("index.html"))
            throw new InvalidOperationException("the portal's index.html is not embedded in the server (Feather.Server.csproj, EmbeddedResource portal/…)");
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }
}

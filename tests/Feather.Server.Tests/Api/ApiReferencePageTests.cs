using System.Net;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Api;

/// <summary>The interactive API reference (Swagger UI, vendored) is served from the binary under the portal's policy.</summary>
public class ApiReferencePageTests
{
    [Theory]
    [InlineData("/api/docs")]
    [InlineData("/api/models/admin/hello/docs")]
    public async Task The_reference_page_is_html_under_the_portals_content_security_policy(string path)
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        using var page = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", policy);
        Assert.Contains("script-src 'self';", policy);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("src=\"/vendor/swagger-ui/swagger-ui-bundle.js\"", html);
        Assert.Contains("src=\"/js/api-docs.js\"", html);
        Assert.DoesNotContain("https://", html);
    }

    [Theory]
    [InlineData("/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript")]
    [InlineData("/vendor/swagger-ui/swagger-ui.css", "text/css")]
    [InlineData("/vendor/swagger-ui/LICENSE.txt", "text/plain")]
    [InlineData("/js/api-docs.js", "text/javascript")]
    public async Task The_reference_pages_files_are_served_with_their_type(string path, string type)
    {
        await using var server = await FeatherTestServer.StartAsync();
        using var client = server.Client();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Content.Headers.ContentLength > 0);
    }
}

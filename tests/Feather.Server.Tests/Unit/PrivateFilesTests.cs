using System.Net;
using System.Net.Http.Json;
using Feather.Server.Storage;
using Feather.Server.Tests.Infrastructure;

namespace Feather.Server.Tests.Unit;

/// <summary>The data directory and its secrets are private, with real files and real modes.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateFilesTests
{
    private const UnixFileMode Loose = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode LooseDir = Loose | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    [Fact]
    public void Existing_loose_secrets_are_tightened_and_other_files_are_left_alone()
    {
        var root = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            var data = Path.Combine(root, "data");
            Directory.CreateDirectory(Path.Combine(data, "keys"));
            File.SetUnixFileMode(data, LooseDir);
            File.SetUnixFileMode(Path.Combine(data, "keys"), LooseDir);
            foreach (var name in new[] { "feather.db", "server-secret", "instance-id", "admin-password", "server.log", "keys/key-1.xml", "notes.txt" })
            {
                File.WriteAllText(Path.Combine(data, name), "x");
                File.SetUnixFileMode(Path.Combine(data, name), Loose);
            }

            PrivateFiles.SecureDataDirectory(data);

            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(data));
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(Path.Combine(data, "keys")));
            foreach (var name in new[] { "feather.db", "server-secret", "instance-id", "admin-password", "server.log", "keys/key-1.xml" })
                Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(Path.Combine(data, name)));
            Assert.Equal(Loose, File.GetUnixFileMode(Path.Combine(data, "notes.txt")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void A_missing_data_directory_is_created_private_and_secrets_are_written_0600()
    {
        var root = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            var data = Path.Combine(root, "new", "data");
            PrivateFiles.SecureDataDirectory(data);
            Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(data));

            var secret = Path.Combine(data, "instance-id");
            PrivateFiles.WriteSecret(secret, "feather-abc");
            Assert.Equal("feather-abc", File.ReadAllText(secret));
            Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(secret));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_server_started_on_a_loose_data_directory_makes_it_and_every_secret_private()
    {
        var data = Directory.CreateTempSubdirectory("feather-test-").FullName;
        try
        {
            File.SetUnixFileMode(data, LooseDir);
            File.WriteAllText(Path.Combine(data, "admin-password"), FeatherTestServer.AdminPassword);
            File.SetUnixFileMode(Path.Combine(data, "admin-password"), Loose);

            await using (var server = await FeatherTestServer.StartAsync(dataDirectory: data))
            {
                // A portal sign-in makes the cookie keys; a publish start makes the upload signing key.
                using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = server.BaseAddress };
                await (await browser.PostAsJsonAsync("/api/auth/login", new { username = "admin", password = FeatherTestServer.AdminPassword })).Json(HttpStatusCode.OK);
                using var admin = server.Client(await server.AdminTokenAsync());
                await (await admin.PostAsJsonAsync("/api/publish", new TestModel().StartBody())).Json(HttpStatusCode.Created);

                Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(data));
                Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(Path.Combine(data, "keys")));
                var keys = Directory.GetFiles(Path.Combine(data, "keys"));
                Assert.NotEmpty(keys);
                foreach (var file in keys.Append(Path.Combine(data, "feather.db")).Append(Path.Combine(data, "server-secret"))
                             .Append(Path.Combine(data, "instance-id")).Append(Path.Combine(data, "admin-password")))
                    Assert.True(File.GetUnixFileMode(file) == PrivateFiles.FileMode, $"{file} is {File.GetUnixFileMode(file)}");
                await server.StopAsync();
            }
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}

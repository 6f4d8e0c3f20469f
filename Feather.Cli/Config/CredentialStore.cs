using System.Text.Json;

namespace Feather.Cli.Config;

/// <summary>What <c>feather login</c> stores. The token is a secret: the file is private to the user (0600).</summary>
public sealed record Credentials(string Url, string Token, string? Username = null, string? TokenId = null);

/// <summary>Reads and writes the credentials file atomically with mode 0600.</summary>
public sealed class CredentialStore(string path)
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Path { get; } = path;

    public Credentials? Load()
    {
        if (!File.Exists(Path)) return null;
        try
        {
            var credentials = JsonSerializer.Deserialize<Credentials>(File.ReadAllText(Path), Json.Options);
            return credentials is { Url.Length: > 0, Token.Length: > 0 } ? credentials : null;
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.NotLoggedIn, $"the credentials file {Path} is not valid JSON ({e.Message})",
                "run `feather logout` and then `feather login` again");
        }
    }

    /// <summary>True when group or others can read or write the file (someone loosened it by hand).</summary>
    public bool IsTooOpen() =>
        !OperatingSystem.IsWindows() && File.Exists(Path)
        && (File.GetUnixFileMode(Path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0;

    /// <summary>Writes a temporary file created with 0600 (never readable by others, not even briefly), then renames it over the old one.</summary>
    public void Save(Credentials credentials)
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, DirectoryMode);

        var temporary = System.IO.Path.Combine(directory, $".credentials.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                JsonSerializer.Serialize(stream, credentials, Json.Indented);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, Path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public bool Delete()
    {
        if (!File.Exists(Path)) return false;
        File.Delete(Path);
        return true;
    }
}

namespace Feather.Server.Storage;

/// <summary>
/// The data directory holds secrets (the database with password and token hashes, the upload
/// signing key, the cookie keys, the instance id, run.sh's admin-password and the server log that
/// may show a generated admin password): the directory is 0700 and those files 0600, made so on
/// every start even when an older version or another tool left them looser.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The secret files directly under the data directory.</summary>
    public static readonly string[] SecretFiles =
        ["feather.db", "feather-log.db", "server-secret", "instance-id", "admin-password", "server.log"];

    /// <summary>The folder of the ASP.NET Core data protection keys (cookie and antiforgery keys).</summary>
    public const string KeysFolder = "keys";

    /// <summary>Creates the data directory if needed and tightens it and the secrets in it.</summary>
    public static void SecureDataDirectory(string dataDirectory)
    {
        CreateDirectory(dataDirectory);
        if (OperatingSystem.IsWindows()) return;
        foreach (var name in SecretFiles)
            Restrict(Path.Combine(dataDirectory, name));
        var keys = Path.Combine(dataDirectory, KeysFolder);
        if (Directory.Exists(keys)) SecureKeys(keys);
    }

    /// <summary>Creates (or tightens) a private directory, 0700.</summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) return Directory.CreateDirectory(path);
        var info = Directory.CreateDirectory(path, DirectoryMode);
        File.SetUnixFileMode(path, DirectoryMode);
        return info;
    }

    /// <summary>The keys folder 0700 and every file in it 0600.</summary>
    public static void SecureKeys(string keysDirectory)
    {
        CreateDirectory(keysDirectory);
        if (OperatingSystem.IsWindows()) return;
        foreach (var file in Directory.EnumerateFiles(keysDirectory))
            Restrict(file);
    }

    /// <summary>Sets an existing file to 0600 (a missing one is left alone).</summary>
    public static void Restrict(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path) && File.GetUnixFileMode(path) != FileMode)
            File.SetUnixFileMode(path, FileMode);
    }

    /// <summary>Writes a secret atomically (a temp file created 0600, then renamed over <paramref name="path"/>).</summary>
    public static void WriteSecret(string path, string content)
    {
        var temp = path + ".tmp";
        var create = new FileStreamOptions { Mode = System.IO.FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = FileMode;
        using (var writer = new StreamWriter(temp, System.Text.Encoding.UTF8, create))
            writer.Write(content);
        Restrict(temp); // an old temp file keeps its mode when reopened
        File.Move(temp, path, overwrite: true);
    }
}

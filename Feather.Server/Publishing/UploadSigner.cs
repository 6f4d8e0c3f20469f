using System.Security.Cryptography;
using System.Text;
using Feather.Server.Configuration;

namespace Feather.Server.Publishing;

/// <summary>
/// Signs upload URLs with HMAC-SHA256. The key is 32 random bytes kept in
/// <c>$FEATHER_DATA/server-secret</c> (mode 0600), created on first start.
/// </summary>
public sealed class UploadSigner
{
    private readonly byte[] _key;

    public UploadSigner(FeatherOptions options)
    {
        var path = options.SecretPath;
        if (!File.Exists(path))
        {
            var fresh = RandomNumberGenerator.GetBytes(32);
            var temp = path + ".tmp";
            var create = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var f = new FileStream(temp, create))
                f.Write(fresh);
            File.Move(temp, path, overwrite: false);
        }
        Storage.PrivateFiles.Restrict(path);
        _key = File.ReadAllBytes(path);
        if (_key.Length < 32) throw new InvalidOperationException($"{path} holds fewer than 32 bytes; delete it to make a new one");
    }

    public string Sign(string publishId, string file, long expires) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"upload:{publishId}:{file}:{expires}")));

    public bool Verify(string publishId, string file, long expires, string? signature) =>
        signature is { Length: 64 } &&
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(publishId, file, expires)), Encoding.ASCII.GetBytes(signature));
}

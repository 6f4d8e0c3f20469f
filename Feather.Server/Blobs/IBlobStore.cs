namespace Feather.Server.Blobs;

/// <summary>
/// Content-addressed file store: every blob is named by the lowercase hex SHA-256 of its bytes.
/// The server's publishing code writes blobs; the runner reads them to build version images.
/// Implementations may add members; these are the ones other features rely on.
/// </summary>
public interface IBlobStore
{
    /// <summary>True when a blob with this hash is stored (complete and verified).</summary>
    Task<bool> ExistsAsync(string sha256, CancellationToken ct);

    /// <summary>Opens a stored blob for reading. Throws <see cref="FileNotFoundException"/> when absent.</summary>
    Task<Stream> OpenReadAsync(string sha256, CancellationToken ct);

    /// <summary>
    /// The path of a stored blob on this machine's disk, or null when it is not stored (or the store keeps no
    /// files): a version's weights are bound read-only into its steps from there (Sandbox/VersionWeights.cs).
    /// </summary>
    string? LocalPath(string sha256) => null;
}

namespace Feather.Server.Environments;

/// <summary>
/// What a version needs to run, computed from its metadata at publish. Its hash names the
/// shared environment image (feather-env:&lt;hash&gt;) reused by every version with the same spec.
/// </summary>
/// <param name="RunnerImage">The runner base image the environment builds on: a reference (feather-runner:latest) at
/// a version's first build, its recorded id (sha256:…) at a rebuild.</param>
/// <param name="Profile">low, medium or high.</param>
/// <param name="PythonVersion">major.minor, e.g. 3.11.</param>
/// <param name="SystemPackages">Debian package names.</param>
/// <param name="PythonPackages">pip requirement strings, pinned where known (numpy==1.24.2).</param>
public sealed record EnvironmentSpec(
    string RunnerImage,
    string Profile,
    string PythonVersion,
    IReadOnlyList<string> SystemPackages,
    IReadOnlyList<string> PythonPackages);

/// <summary>One file of a version: its path under /model and the blob that holds its bytes.</summary>
public sealed record VersionFile(string Path, string Sha256, long Size);

/// <summary>Everything needed to build the image a version's steps run in.</summary>
public sealed record VersionImageRequest(
    string ModelId,
    int VersionNumber,
    EnvironmentSpec Environment,
    IReadOnlyList<VersionFile> Files);

public enum ImageBuildOutcome { Ready, Failed }

/// <summary>
/// The result of a build: the version image reference to run steps in, and the build log.
/// <paramref name="RunnerImageId"/> is the id of the runner image built on (null when it was not found):
/// recorded on the version, so a rebuild uses that exact image.
/// </summary>
public sealed record ImageBuildResult(
    ImageBuildOutcome Outcome,
    string EnvironmentImage,
    string VersionImage,
    string Log,
    TimeSpan Duration,
    string? Error,
    string? RunnerImageId = null);

/// <summary>Builds environment and version images through the Docker API (never a local docker CLI).</summary>
public interface IImageBuilder
{
    /// <summary>
    /// Builds the environment image if it does not exist yet, then the version image on top of it.
    /// Log lines are reported as they arrive. Safe to call concurrently; one env build per hash.
    /// </summary>
    Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct);

    /// <summary>False for <see cref="NoImageBuilder"/>: versions then stay pending until a server with a runner starts.</summary>
    bool CanBuild => true;
}

/// <summary>
/// The image builder of a server without a runner (registered by the Models feature; the runner's
/// builder replaces it). It builds nothing: versions stay pending, and a later start with a runner builds them.
/// </summary>
public sealed class NoImageBuilder : IImageBuilder
{
    public bool CanBuild => false;

    public Task<ImageBuildResult> BuildAsync(VersionImageRequest request, IProgress<string>? log, CancellationToken ct) =>
        throw new InvalidOperationException("this server has no runner: it cannot build images");
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Feather.Server.Environments;

/// <summary>
/// The dependency hash that names an environment image. Computed over a canonical serialisation of the
/// spec with the runner image's *ID* (so rebuilding the runner gives new environment images).
/// </summary>
public static partial class EnvironmentHash
{
    /// <summary>Canonical JSON: fixed key order, packages trimmed, de-duplicated and sorted ordinally.</summary>
    public static string Canonical(EnvironmentSpec spec, string runnerImageId)
    {
        var doc = new
        {
            recipe = RecipeVersion,
            runner_image_id = runnerImageId,
            profile = spec.Profile,
            python = spec.PythonVersion,
            system_packages = Normalise(spec.SystemPackages),
            python_packages = Normalise(spec.PythonPackages),
        };
        return JsonSerializer.Serialize(doc);
    }

    /// <summary>Lowercase hex SHA-256 of the canonical serialisation.</summary>
    /// <summary>
    /// The version of the environment image's recipe (BuildContext.EnvironmentDockerfile): bumped when
    /// the recipe changes, so an image an older recipe built under the same spec is not reused.
    /// 2: the SDK and installed packages are byte-compiled at build.
    /// 3: only the package managers run as root; pip --no-compile --isolated; the byte-compile runs as the user.
    /// </summary>
    public const int RecipeVersion = 3;

    public static string Compute(EnvironmentSpec spec, string runnerImageId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(spec, runnerImageId))));

    /// <summary>The environment image reference: feather-env:&lt;first 16 hex digits&gt;.</summary>
    public static string ImageTag(string hash) => $"feather-env:{hash[..16]}";

    public static string[] Normalise(IEnumerable<string> packages) =>
        packages.Select(p => p.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Null when the spec can be built, else what is wrong with it.</summary>
    public static string? Validate(EnvironmentSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.RunnerImage)) return "environment: runner image is empty";
        if (spec.Profile is not ("low" or "medium" or "high"))
            return $"environment: unknown profile '{spec.Profile}' (allowed: low, medium, high)";
        if (!PythonVersionPattern().IsMatch(spec.PythonVersion ?? ""))
            return $"environment: python version '{spec.PythonVersion}' must look like 3.11";
        foreach (var p in spec.SystemPackages ?? [])
            if (!DebianPackagePattern().IsMatch(p.Trim()))
                return $"environment: '{p}' is not a valid Debian package name (lowercase letters, digits, '+', '-', '.'; optionally =version)";
        foreach (var p in spec.PythonPackages ?? [])
            if (!PythonRequirementPattern().IsMatch(p.Trim()))
                return $"environment: '{p}' is not a valid pip requirement (name, optional [extras], optional version specifiers such as ==1.24.2)";
        return null;
    }

    [GeneratedRegex(@"^[0-9]+\.[0-9]+$")]
    private static partial Regex PythonVersionPattern();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9+.\-]+(=[A-Za-z0-9.+~:\-]+)?$")]
    private static partial Regex DebianPackagePattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._\-]*(\[[A-Za-z0-9._\-,]+\])?((==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!\-]+)(,(==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!\-]+)*$|^[A-Za-z0-9][A-Za-z0-9._\-]*(\[[A-Za-z0-9._\-,]+\])?$")]
    private static partial Regex PythonRequirementPattern();
}

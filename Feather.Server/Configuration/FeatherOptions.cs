using System.Globalization;

namespace Feather.Server.Configuration;

/// <summary>
/// Every setting of the server, read from flat configuration keys (environment variables such as
/// <c>FEATHER_PORT</c>, or <c>--FEATHER_PORT=9000</c> on the command line). docs/api.md lists them.
/// </summary>
public sealed class FeatherOptions
{
    public int Port { get; init; } = 8080;
    public string Bind { get; init; } = "127.0.0.1";
    public string DataDirectory { get; init; } = "./data";
    public string? AdminPassword { get; init; }
    public string? PublicUrl { get; init; }
    public string RunnerBaseImage { get; init; } = "feather-runner:latest";
    public long MaxFileBytes { get; init; } = 2L * 1024 * 1024 * 1024;
    public long MaxTotalBytes { get; init; } = 8L * 1024 * 1024 * 1024;
    public int MaxFilesPerVersion { get; init; } = 1000;
    public int PublishTtlSeconds { get; init; } = 3600;
    public int SweepIntervalSeconds { get; init; } = 60;
    public int MaxWaitSeconds { get; init; } = 300;
    public int AnonymousRunsPerMinute { get; init; } = 30;
    /// <summary>Reverse proxies whose X-Forwarded-For / -Proto are believed (the client's address keys rate limits).</summary>
    public System.Net.IPAddress[] TrustedProxies { get; init; } = [];

    public string DatabasePath => Path.Combine(DataDirectory, "feather.db");
    public string BlobDirectory => Path.Combine(DataDirectory, "blobs");
    public string StagingDirectory => Path.Combine(DataDirectory, "staging");
    public string SecretPath => Path.Combine(DataDirectory, "server-secret");

    /// <summary>Reads and validates every key; throws one exception naming every bad key.</summary>
    public static FeatherOptions FromConfiguration(IConfiguration config)
    {
        var errors = new List<string>();

        int Int(string key, int fallback, int min, int max)
        {
            var raw = config[key];
            if (string.IsNullOrWhiteSpace(raw)) return fallback;
            if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max) return v;
            errors.Add($"{key}: '{raw}' is not a whole number between {min} and {max}");
            return fallback;
        }

        long Long(string key, long fallback, long min)
        {
            var raw = config[key];
            if (string.IsNullOrWhiteSpace(raw)) return fallback;
            if (long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min) return v;
            errors.Add($"{key}: '{raw}' is not a whole number of at least {min}");
            return fallback;
        }

        System.Net.IPAddress[] Proxies(string? raw)
        {
            var list = new List<System.Net.IPAddress>();
            foreach (var item in (raw ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (System.Net.IPAddress.TryParse(item, out var ip)) list.Add(ip);
                else errors.Add($"FEATHER_TRUSTED_PROXIES: '{item}' is not an IP address (a comma-separated list, e.g. 127.0.0.1,10.0.0.2)");
            return [.. list];
        }

        string? Str(string key) => string.IsNullOrWhiteSpace(config[key]) ? null : config[key]!.Trim();

        var bind = Str("FEATHER_BIND") ?? "127.0.0.1";
        if (bind != "localhost" && bind != "*" && !System.Net.IPAddress.TryParse(bind, out _))
            errors.Add($"FEATHER_BIND: '{bind}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::), 'localhost' or '*'");

        var publicUrl = Str("FEATHER_PUBLIC_URL");
        if (publicUrl is not null && (!Uri.TryCreate(publicUrl, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https")))
            errors.Add($"FEATHER_PUBLIC_URL: '{publicUrl}' is not an absolute http(s) URL");

        var adminPassword = Str("FEATHER_ADMIN_PASSWORD");
        if (adminPassword is not null && adminPassword.Length < 8)
            errors.Add("FEATHER_ADMIN_PASSWORD: must be at least 8 characters");

        var options = new FeatherOptions
        {
            Port = Int("FEATHER_PORT", 8080, 0, 65535),
            Bind = bind,
            DataDirectory = Path.GetFullPath(Str("FEATHER_DATA") ?? "./data"),
            AdminPassword = adminPassword,
            PublicUrl = publicUrl?.TrimEnd('/'),
            RunnerBaseImage = Str("Runner:BaseImage") ?? Str("FEATHER_RUNNER_IMAGE") ?? "feather-runner:latest",
            MaxFileBytes = Long("FEATHER_MAX_FILE_BYTES", 2L * 1024 * 1024 * 1024, 1),
            MaxTotalBytes = Long("FEATHER_MAX_TOTAL_BYTES", 8L * 1024 * 1024 * 1024, 1),
            MaxFilesPerVersion = Int("FEATHER_MAX_FILES", 1000, 1, 1_000_000),
            PublishTtlSeconds = Int("FEATHER_PUBLISH_TTL_SECONDS", 3600, 1, 7 * 24 * 3600),
            SweepIntervalSeconds = Int("FEATHER_SWEEP_INTERVAL_SECONDS", 60, 1, 24 * 3600),
            MaxWaitSeconds = Int("FEATHER_MAX_WAIT_SECONDS", 300, 0, 3600),
            AnonymousRunsPerMinute = Int("FEATHER_ANON_RUNS_PER_MINUTE", 30, 1, 1_000_000),
            TrustedProxies = Proxies(Str("FEATHER_TRUSTED_PROXIES")),
        };

        if (errors.Count > 0)
            throw new InvalidOperationException("Invalid configuration:\n  " + string.Join("\n  ", errors));
        return options;
    }
}

public static class ConfigurationExtensions
{
    public static WebApplicationBuilder AddFeatherConfiguration(this WebApplicationBuilder builder)
    {
        var options = FeatherOptions.FromConfiguration(builder.Configuration);
        Storage.PrivateFiles.SecureDataDirectory(options.DataDirectory);
        builder.Services.AddSingleton(options);
        var host = options.Bind == "*" ? "*" : options.Bind.Contains(':') ? $"[{options.Bind}]" : options.Bind;
        builder.WebHost.UseUrls($"http://{host}:{options.Port}");
        // Containers are labelled with their server's instance id, and the reaper removes only its
        // own: two servers on one engine (a lab server and a test run, say) must not share one.
        if (string.IsNullOrWhiteSpace(builder.Configuration["Runner:InstanceId"]))
            builder.Configuration["Runner:InstanceId"] = InstanceId(options.DataDirectory);
        return builder;
    }

    /// <summary>A random id made on first start and kept in the data directory.</summary>
    private static string InstanceId(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "instance-id");
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (existing.Length > 0) return existing;
        }
        var id = "feather-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
        Storage.PrivateFiles.WriteSecret(path, id);
        return id;
    }
}

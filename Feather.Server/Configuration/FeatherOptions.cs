using System.Globalization;
using Microsoft.Extensions.Options;

namespace Feather.Server.Configuration;

/// <summary>
/// Every setting of the server, typed: the view of <see cref="FeatherSettings"/> (flat configuration keys
/// such as <c>FEATHER_PORT</c>) once <see cref="FeatherSettingsValidator"/> has accepted it. docs/deploy.md
/// lists the keys. Features take it from the container as a singleton.
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
    /// <summary>The largest file a step takes or gives (an upload, an image, a download): FEATHER_MAX_STEP_FILE_BYTES.</summary>
    public long MaxStepFileBytes { get; init; } = DefaultMaxStepFileBytes;
    /// <summary>The most bytes of files one step takes, and the most it gives: FEATHER_MAX_STEP_BYTES.</summary>
    public long MaxStepBytes { get; init; } = DefaultMaxStepBytes;
    public const long DefaultMaxStepFileBytes = 1L << 30;
    public const long DefaultMaxStepBytes = 4L << 30;
    public int PublishTtlSeconds { get; init; } = 3600;
    public int SweepIntervalSeconds { get; init; } = 60;
    public int MaxWaitSeconds { get; init; } = 300;
    public int AnonymousRunsPerMinute { get; init; } = 30;
    /// <summary>Server-sent event streams one client (a user, or an address for anonymous callers) may hold open at once.</summary>
    public int MaxEventStreams { get; init; } = 8;
    /// <summary>Reverse proxies whose X-Forwarded-For / -Proto are believed (the client's address keys rate limits).</summary>
    public System.Net.IPAddress[] TrustedProxies { get; init; } = [];

    public string DatabasePath => Path.Combine(DataDirectory, "feather.db");
    public string BlobDirectory => Path.Combine(DataDirectory, "blobs");
    public string StagingDirectory => Path.Combine(DataDirectory, "staging");
    public string SecretPath => Path.Combine(DataDirectory, "server-secret");
    /// <summary>Step input and output files, one folder per run (Runs/RunFiles.cs).</summary>
    public string RunFilesDirectory => Path.Combine(DataDirectory, "run-files");

    /// <summary>
    /// Reads the settings the way the server does at start-up (bind <see cref="FeatherSettings"/>, check it
    /// with <see cref="FeatherSettingsValidator"/>); throws one <see cref="OptionsValidationException"/>
    /// naming every bad key and what it allows. For what must be known before the container is built
    /// (the listening address, the data directory).
    /// </summary>
    public static FeatherOptions FromConfiguration(IConfiguration config)
    {
        var settings = config.Get<FeatherSettings>() ?? new FeatherSettings();
        var result = new FeatherSettingsValidator().Validate(Options.DefaultName, settings);
        if (result.Failed)
            throw new OptionsValidationException(Options.DefaultName, typeof(FeatherSettings), result.Failures);
        return From(settings, []);
    }

    /// <summary>The typed view of <paramref name="s"/>; each bad value is added to <paramref name="errors"/> and replaced by its default.</summary>
    internal static FeatherOptions From(FeatherSettings s, List<string> errors)
    {
        int Int(string key, string? raw, int fallback, int min, int max)
        {
            if (string.IsNullOrWhiteSpace(raw)) return fallback;
            if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max) return v;
            errors.Add($"{key}: '{raw}' is not a whole number between {min} and {max}");
            return fallback;
        }

        long Long(string key, string? raw, long fallback, long min)
        {
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

        static string? Str(string? raw) => string.IsNullOrWhiteSpace(raw) ? null : raw.Trim();

        var bind = Str(s.Bind) ?? "127.0.0.1";
        if (bind != "localhost" && bind != "*" && !System.Net.IPAddress.TryParse(bind, out _))
            errors.Add($"FEATHER_BIND: '{bind}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::), 'localhost' or '*'");

        var publicUrl = Str(s.PublicUrl);
        if (publicUrl is not null && (!Uri.TryCreate(publicUrl, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https")))
            errors.Add($"FEATHER_PUBLIC_URL: '{publicUrl}' is not an absolute http(s) URL");

        var adminPassword = Str(s.AdminPassword);
        if (adminPassword is not null && adminPassword.Length < 8)
            errors.Add("FEATHER_ADMIN_PASSWORD: must be at least 8 characters");

        return new FeatherOptions
        {
            Port = Int("FEATHER_PORT", s.Port, 8080, 0, 65535),
            Bind = bind,
            DataDirectory = Path.GetFullPath(Str(s.DataDirectory) ?? "./data"),
            AdminPassword = adminPassword,
            PublicUrl = publicUrl?.TrimEnd('/'),
            RunnerBaseImage = Str(s.RunnerBaseImage) ?? Str(s.RunnerImage) ?? "feather-runner:latest",
            MaxFileBytes = Long("FEATHER_MAX_FILE_BYTES", s.MaxFileBytes, 2L * 1024 * 1024 * 1024, 1),
            MaxTotalBytes = Long("FEATHER_MAX_TOTAL_BYTES", s.MaxTotalBytes, 8L * 1024 * 1024 * 1024, 1),
            MaxFilesPerVersion = Int("FEATHER_MAX_FILES", s.MaxFiles, 1000, 1, 1_000_000),
            MaxStepFileBytes = Long("FEATHER_MAX_STEP_FILE_BYTES", s.MaxStepFileBytes, DefaultMaxStepFileBytes, 1),
            MaxStepBytes = Long("FEATHER_MAX_STEP_BYTES", s.MaxStepBytes, DefaultMaxStepBytes, 1),
            PublishTtlSeconds = Int("FEATHER_PUBLISH_TTL_SECONDS", s.PublishTtlSeconds, 3600, 1, 7 * 24 * 3600),
            SweepIntervalSeconds = Int("FEATHER_SWEEP_INTERVAL_SECONDS", s.SweepIntervalSeconds, 60, 1, 24 * 3600),
            MaxWaitSeconds = Int("FEATHER_MAX_WAIT_SECONDS", s.MaxWaitSeconds, 300, 0, 3600),
            AnonymousRunsPerMinute = Int("FEATHER_ANON_RUNS_PER_MINUTE", s.AnonymousRunsPerMinute, 30, 1, 1_000_000),
            MaxEventStreams = Int("FEATHER_MAX_EVENT_STREAMS", s.MaxEventStreams, 8, 1, 10_000),
            TrustedProxies = Proxies(Str(s.TrustedProxies)),
        };
    }
}

/// <summary>
/// The server's settings as written: flat configuration keys (environment variables such as
/// <c>FEATHER_PORT</c>, or <c>--FEATHER_PORT=9000</c> on the command line), bound as text so that a bad
/// value is reported by <see cref="FeatherSettingsValidator"/> with its key and what it allows, instead of
/// failing inside the binder. <see cref="FeatherOptions"/> is the typed view the features use.
/// </summary>
public sealed class FeatherSettings
{
    [ConfigurationKeyName("FEATHER_PORT")] public string? Port { get; set; }
    [ConfigurationKeyName("FEATHER_BIND")] public string? Bind { get; set; }
    [ConfigurationKeyName("FEATHER_DATA")] public string? DataDirectory { get; set; }
    [ConfigurationKeyName("FEATHER_ADMIN_PASSWORD")] public string? AdminPassword { get; set; }
    [ConfigurationKeyName("FEATHER_PUBLIC_URL")] public string? PublicUrl { get; set; }
    /// <summary><c>Runner:BaseImage</c>, the runner's own key, wins over <see cref="RunnerImage"/>.</summary>
    [ConfigurationKeyName("Runner:BaseImage")] public string? RunnerBaseImage { get; set; }
    [ConfigurationKeyName("FEATHER_RUNNER_IMAGE")] public string? RunnerImage { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_FILE_BYTES")] public string? MaxFileBytes { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_TOTAL_BYTES")] public string? MaxTotalBytes { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_FILES")] public string? MaxFiles { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_STEP_FILE_BYTES")] public string? MaxStepFileBytes { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_STEP_BYTES")] public string? MaxStepBytes { get; set; }
    [ConfigurationKeyName("FEATHER_PUBLISH_TTL_SECONDS")] public string? PublishTtlSeconds { get; set; }
    [ConfigurationKeyName("FEATHER_SWEEP_INTERVAL_SECONDS")] public string? SweepIntervalSeconds { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_WAIT_SECONDS")] public string? MaxWaitSeconds { get; set; }
    [ConfigurationKeyName("FEATHER_ANON_RUNS_PER_MINUTE")] public string? AnonymousRunsPerMinute { get; set; }
    [ConfigurationKeyName("FEATHER_MAX_EVENT_STREAMS")] public string? MaxEventStreams { get; set; }
    [ConfigurationKeyName("FEATHER_TRUSTED_PROXIES")] public string? TrustedProxies { get; set; }
}

/// <summary>Checks <see cref="FeatherSettings"/> at start-up: one message per bad key, naming it and the values it allows.</summary>
public sealed class FeatherSettingsValidator : IValidateOptions<FeatherSettings>
{
    public ValidateOptionsResult Validate(string? name, FeatherSettings options)
    {
        var errors = new List<string>();
        FeatherOptions.From(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public static class ConfigurationExtensions
{
    public static WebApplicationBuilder AddFeatherConfiguration(this WebApplicationBuilder builder)
    {
        // Bound and checked at start-up; the typed view comes from the validated settings. The listening
        // address and the data directory are needed before the container exists, so they are read now
        // through the same binding and checks (a bad key fails here, with the same message).
        builder.Services.AddFeatherOptions(builder.Configuration);
        var options = FeatherOptions.FromConfiguration(builder.Configuration);
        Storage.PrivateFiles.SecureDataDirectory(options.DataDirectory);
        var host = options.Bind == "*" ? "*" : options.Bind.Contains(':') ? $"[{options.Bind}]" : options.Bind;
        builder.WebHost.UseUrls($"http://{host}:{options.Port}");
        // Containers are labelled with their server's instance id, and the reaper removes only its
        // own: two servers on one engine (a lab server and a test run, say) must not share one.
        if (string.IsNullOrWhiteSpace(builder.Configuration["Runner:InstanceId"]))
            builder.Configuration["Runner:InstanceId"] = InstanceId(options.DataDirectory);
        return builder;
    }

    /// <summary>
    /// Binds <see cref="FeatherSettings"/> from <paramref name="configuration"/>, checks it at start-up with
    /// <see cref="FeatherSettingsValidator"/>, and registers the typed <see cref="FeatherOptions"/> made from it.
    /// </summary>
    public static IServiceCollection AddFeatherOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<FeatherSettings>().Bind(configuration).ValidateOnStart();
        services.AddSingleton<IValidateOptions<FeatherSettings>, FeatherSettingsValidator>();
        services.AddSingleton(sp => FeatherOptions.From(sp.GetRequiredService<IOptions<FeatherSettings>>().Value, []));
        return services;
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

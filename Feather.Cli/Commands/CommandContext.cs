using System.CommandLine;
using Feather.Cli.Api;
using Feather.Cli.Config;

namespace Feather.Cli.Commands;

/// <summary>What a running command needs: the streams, --json, the stored login and an API client.</summary>
public sealed class CommandContext : IDisposable
{
    private HttpClient? _http;
    private FeatherApi? _api;

    public CommandContext(CliEnvironment env, ParseResult parse)
    {
        Env = env;
        Json = parse.GetValue(GlobalOptions.Json);
        Store = new CredentialStore(ConfigPaths.CredentialsFile(env));
    }

    public CliEnvironment Env { get; }
    public bool Json { get; }
    public TextWriter Out => Env.Out;
    public TextWriter Err => Env.Err;
    public CredentialStore Store { get; }

    /// <summary>Human-readable progress: stdout normally, stderr under --json so stdout stays pure JSON.</summary>
    public TextWriter Info => Json ? Env.Err : Env.Out;

    public FeatherApi Api => _api ??= CreateApi(ServerSettings.Resolve(Env, LoadStored()));

    public FeatherApi CreateApi(ServerSettings settings)
    {
        _http ??= FeatherApi.CreateHttpClient();
        return new FeatherApi(_http, settings);
    }

    public Credentials? LoadStored()
    {
        var stored = Store.Load();
        if (stored is not null && Store.IsTooOpen())
            Err.WriteLine($"warning: {Store.Path} is readable by other users; run `chmod 600 {Store.Path}`");
        return stored;
    }

    public void Dispose() => _http?.Dispose();

    /// <summary>Wires a command's action: builds the context, runs the handler, returns its exit code.</summary>
    public static void Bind(Command command, CliEnvironment env, Func<CommandContext, ParseResult, CancellationToken, Task<ExitCodes>> handler) =>
        command.SetAction(async (parse, ct) =>
        {
            using var context = new CommandContext(env, parse);
            return (int)await handler(context, parse, ct);
        });
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Feather.Contracts;

/// <summary>
/// How the records travel: the web defaults (camelCase, case-insensitive reading, numbers readable
/// from strings) and null properties written out. The server's HTTP JSON options and the CLI's
/// reading of its answers both come from here.
/// </summary>
public static class ContractJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Sets the contract's settings on options made elsewhere (the server's HTTP JSON options).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        return options;
    }
}

using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Feather.Server.Common;

/// <summary>
/// Puts the wire contract of Feather.Contracts into the OpenAPI document: each route's operation id
/// (<see cref="Routes.Operations"/>), and the step statuses as an enum on <c>StepView.status</c> with
/// <c>x-feather-active</c> (still running) and <c>x-feather-terminal</c> (ended). scripts/gen-contract.py
/// writes the SDK client's and the portal's tables from these.
/// </summary>
public static class ContractOpenApi
{
    public const string ActiveExtension = "x-feather-active";
    public const string TerminalExtension = "x-feather-terminal";

    private static readonly Dictionary<(string Method, string Path), string> OperationIds =
        Routes.Operations.ToDictionary(o => (o.Method, o.Path.TrimStart('/')), o => o.Id);

    public static OpenApiOptions AddContractTransformers(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, context, _) =>
        {
            var description = context.Description;
            var path = (description.RelativePath ?? "").TrimEnd('/');
            var constraintFree = System.Text.RegularExpressions.Regex.Replace(path, ":[^}]*(?=})", "");
            if (operation.OperationId is null && description.HttpMethod is { } method &&
                OperationIds.TryGetValue((method.ToUpperInvariant(), constraintFree), out var id))
                operation.OperationId = id;
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonTypeInfo.Type == typeof(StepView) && schema.Properties?.TryGetValue("status", out var status) == true
                && status is OpenApiSchema statusSchema)
            {
                statusSchema.Enum = StepStatus.All.Select(s => (JsonNode)JsonValue.Create(s)).ToList();
                statusSchema.Extensions ??= new Dictionary<string, IOpenApiExtension>();
                statusSchema.Extensions[ActiveExtension] = new JsonNodeExtension(new JsonArray(StepStatus.Active.Select(s => (JsonNode?)s).ToArray()));
                statusSchema.Extensions[TerminalExtension] = new JsonNodeExtension(new JsonArray(StepStatus.Terminal.Select(s => (JsonNode?)s).ToArray()));
            }
            return Task.CompletedTask;
        });
        return options;
    }
}

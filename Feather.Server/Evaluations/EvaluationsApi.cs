namespace Feather.Server.Evaluations;

/// <summary>Evaluations of model versions on dataset versions (docs/datasets.md, "Evaluation").</summary>
public static class EvaluationsApi
{
    public static WebApplicationBuilder AddEvaluations(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<EvaluationStore>();
        return builder;
    }

    public static IEndpointRouteBuilder MapEvaluations(this IEndpointRouteBuilder app) => app;
}

namespace Feather.Contracts;

/// <summary>
/// The registry of tasks models are scored on (docs/datasets.md, "Evaluation"). The task names are the
/// dataset tasks; the server computes the metrics outside the model's container.
/// </summary>
public static class EvaluationTasks
{
    public const string ImageClassification = "image-classification";
    public const string TextClassification = "text-classification";
    public const string Regression = "regression";
    public const string QuestionAnswering = "question-answering";
    public const string TextGeneration = "text-generation";

    private static readonly MetricInfo[] Classification =
    [
        new("accuracy", "Accuracy", true, "Share of records whose predicted class equals the label."),
        new("macro_f1", "Macro-F1", true, "Unweighted mean over the classes of the F1 score (scikit-learn's f1_score(average='macro') over the labels and predicted classes)."),
    ];

    private static readonly MetricInfo[] Text =
    [
        new("exact_match", "Exact match", true, "Share of records whose normalised prediction equals the normalised answer (SQuAD normalisation: lower case, no punctuation, no articles a/an/the, single spaces)."),
        new("token_f1", "Token F1", true, "Mean over the records of the F1 of the normalised prediction's tokens against the answer's (SQuAD)."),
    ];

    public static readonly EvaluationTaskInfo[] All =
    [
        new(ImageClassification, Classification, "accuracy", "label", true),
        new(TextClassification, Classification, "accuracy", "label", true),
        new(Regression,
        [
            new("rmse", "RMSE", false, "Root mean squared error, in the label's units."),
            new("mae", "MAE", false, "Mean absolute error, in the label's units."),
            new("r2", "R²", true, "Coefficient of determination (1 is perfect, 0 is the mean's score; can be negative)."),
        ], "rmse", "number", false),
        new(QuestionAnswering, Text, "token_f1", "text", false),
        new(TextGeneration, Text, "token_f1", "text", false),
    ];

    public static EvaluationTaskInfo? Find(string? name) => All.FirstOrDefault(t => t.Name == name);
}

using System.Text.Json;
using System.Text.RegularExpressions;
using Feather.Contracts;
using MathNet.Numerics;

namespace Feather.Server.Evaluations;

/// <summary>What scoring found: the task's metrics, the per-class results (classification) and each record's score.</summary>
public sealed record EvaluationScores(
    Dictionary<string, double> Metrics, List<string>? Classes, Dictionary<string, double?>? PerClassRecall, List<long[]>? ConfusionMatrix,
    bool OtherPredictions, IReadOnlyList<RecordScore> Records);

/// <summary>A record's outcome: right or wrong (classification: same class; regression: no error; text: exact match) and a score (regression: absolute error; text: token F1).</summary>
public readonly record struct RecordScore(bool Correct, double? Score);

/// <summary>
/// The metrics of <see cref="EvaluationTasks"/>, computed by the server (outside the model's container) from the labels it
/// holds and the predictions the container returned. Definitions follow scikit-learn (accuracy_score, f1_score
/// average='macro', recall per class, confusion_matrix, mean_absolute_error, root of mean_squared_error, r2_score) and
/// the SQuAD evaluation script (exact match, token F1); tests compare them with scikit-learn's numbers.
/// </summary>
public static partial class EvaluationMetrics
{
    /// <summary>The name of the extra confusion-matrix column that counts predictions outside the classes.</summary>
    public const string Other = "(other)";

    /// <summary>
    /// Why <paramref name="prediction"/> is not a prediction for <paramref name="task"/> (null when it is one). Classification
    /// labels may come back as integers (a model returning class 3 for "3"); <see cref="Normalise"/> turns them into strings.
    /// </summary>
    public static string? Problem(EvaluationTaskInfo task, JsonElement prediction) => task.Prediction switch
    {
        "label" => prediction.ValueKind == JsonValueKind.String || IsInteger(prediction) ? null : $"is {Describe(prediction)}; the task {task.Name} needs a class label (a string)",
        "number" => prediction.ValueKind == JsonValueKind.Number && double.IsFinite(prediction.GetDouble()) ? null : $"is {Describe(prediction)}; the task {task.Name} needs a number",
        _ => prediction.ValueKind == JsonValueKind.String ? null : $"is {Describe(prediction)}; the task {task.Name} needs a string",
    };

    /// <summary>The prediction as stored and scored: a label as a string.</summary>
    public static JsonElement Normalise(EvaluationTaskInfo task, JsonElement prediction) =>
        task.Prediction == "label" && prediction.ValueKind == JsonValueKind.Number
            ? JsonSerializer.SerializeToElement(prediction.GetRawText()) : prediction;

    private static bool IsInteger(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out _);

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>Scores predictions against labels (the same count; predictions already checked with <see cref="Problem"/>).</summary>
    /// <param name="classes">The label field's declared classes (the confusion matrix's order), or null.</param>
    public static EvaluationScores Compute(EvaluationTaskInfo task, IReadOnlyList<JsonElement> labels, IReadOnlyList<JsonElement> predictions,
        IReadOnlyList<string>? classes = null)
    {
        if (labels.Count != predictions.Count) throw new ArgumentException($"{labels.Count} labels, {predictions.Count} predictions");
        if (labels.Count == 0) throw new ArgumentException("no records to score");
        return task.Prediction switch
        {
            "label" => Classification(labels.Select(Text).ToList(), predictions.Select(p => Text(Normalise(task, p))).ToList(), classes),
            "number" => Regression(labels.Select(Number).ToArray(), predictions.Select(Number).ToArray()),
            _ => TextMetrics(labels.Select(Text).ToList(), predictions.Select(Text).ToList()),
        };
    }

    private static string Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();

    private static double Number(JsonElement e) => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : double.Parse(e.GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    public static EvaluationScores Classification(List<string> labels, List<string> predictions, IReadOnlyList<string>? classes)
    {
        var n = labels.Count;
        var correct = 0;
        var records = new RecordScore[n];
        for (var i = 0; i < n; i++)
        {
            var ok = labels[i] == predictions[i];
            if (ok) correct++;
            records[i] = new RecordScore(ok, null);
        }

        // macro-F1 over the union of true and predicted labels, as scikit-learn's f1_score(average="macro")
        var union = labels.Concat(predictions).Distinct(StringComparer.Ordinal).ToList();
        var f1Sum = 0.0;
        foreach (var c in union)
        {
            long tp = 0, fp = 0, fn = 0;
            for (var i = 0; i < n; i++)
            {
                var y = labels[i] == c;
                var p = predictions[i] == c;
                if (y && p) tp++;
                else if (p) fp++;
                else if (y) fn++;
            }
            f1Sum += tp + fp + fn == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
        }

        // the confusion matrix over the declared classes (then any other label, sorted), plus "(other)" for stray predictions
        var order = (classes ?? []).ToList();
        order.AddRange(labels.Distinct(StringComparer.Ordinal).Where(l => !order.Contains(l)).Order(StringComparer.Ordinal));
        var index = order.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var other = predictions.Any(p => !index.ContainsKey(p));
        var width = order.Count + (other ? 1 : 0);
        var matrix = order.Select(_ => new long[width]).ToList();
        for (var i = 0; i < n; i++)
            matrix[index[labels[i]]][index.TryGetValue(predictions[i], out var k) ? k : order.Count]++;
        var recall = new Dictionary<string, double?>(StringComparer.Ordinal);
        for (var i = 0; i < order.Count; i++)
        {
            var row = matrix[i].Sum();
            recall[order[i]] = row == 0 ? null : (double)matrix[i][i] / row;
        }
        var metrics = new Dictionary<string, double>
        {
            ["accuracy"] = (double)correct / n,
            ["macro_f1"] = f1Sum / union.Count,
        };
        return new EvaluationScores(metrics, order, recall, matrix, other, records);
    }

    public static EvaluationScores Regression(double[] labels, double[] predictions)
    {
        var mse = Distance.MSE(predictions, labels);
        var mae = Distance.MAE(predictions, labels);
        var mean = labels.Average();
        var totalSquares = labels.Sum(y => (y - mean) * (y - mean));
        // scikit-learn's r2_score with force_finite: a constant label gives 1 when predicted exactly, else 0
        var r2 = totalSquares == 0 ? (mse == 0 ? 1.0 : 0.0) : GoodnessOfFit.CoefficientOfDetermination(predictions, labels);
        var metrics = new Dictionary<string, double> { ["mae"] = mae, ["rmse"] = Math.Sqrt(mse), ["r2"] = r2 };
        var records = labels.Zip(predictions, (y, p) => new RecordScore(y == p, Math.Abs(p - y))).ToList();
        return new EvaluationScores(metrics, null, null, null, false, records);
    }

    public static EvaluationScores TextMetrics(List<string> answers, List<string> predictions)
    {
        var records = answers.Zip(predictions, (y, p) => new RecordScore(NormaliseAnswer(y) == NormaliseAnswer(p), TokenF1(p, y))).ToList();
        var metrics = new Dictionary<string, double>
        {
            ["exact_match"] = records.Count(r => r.Correct) / (double)records.Count,
            ["token_f1"] = records.Average(r => r.Score!.Value),
        };
        return new EvaluationScores(metrics, null, null, null, false, records);
    }

    private const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    [GeneratedRegex(@"\b(a|an|the)\b")]
    private static partial Regex Articles();

    /// <summary>SQuAD's normalisation: lower case, ASCII punctuation removed, the articles a/an/the removed, single spaces.</summary>
    public static string NormaliseAnswer(string text)
    {
        var lower = text.ToLowerInvariant();
        var kept = new string(lower.Where(c => !Punctuation.Contains(c)).ToArray());
        return string.Join(' ', Tokens(Articles().Replace(kept, " ")));
    }

    private static string[] Tokens(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>SQuAD's token F1 of a prediction against one answer (both empty: 1; one empty: 0).</summary>
    public static double TokenF1(string prediction, string answer)
    {
        var pred = Tokens(NormaliseAnswer(prediction));
        var gold = Tokens(NormaliseAnswer(answer));
        if (pred.Length == 0 || gold.Length == 0) return pred.Length == gold.Length ? 1 : 0;
        var counts = gold.GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var same = 0;
        foreach (var t in pred)
            if (counts.TryGetValue(t, out var c) && c > 0)
            {
                counts[t] = c - 1;
                same++;
            }
        if (same == 0) return 0;
        var precision = (double)same / pred.Length;
        var recall = (double)same / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }
}

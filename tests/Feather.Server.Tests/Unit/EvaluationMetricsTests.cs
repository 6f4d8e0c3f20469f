using System.Diagnostics;
using System.Text.Json;
using Feather.Contracts;
using Feather.Server.Evaluations;

namespace Feather.Server.Tests.Unit;

/// <summary>
/// The server's metrics against scikit-learn's (python3-sklearn on the host, as ./test.sh installs it) on the same
/// random labels and predictions, and the SQuAD normalisation against the official script's rules.
/// </summary>
public sealed class EvaluationMetricsTests
{
    private static JsonElement Sklearn(string script, object input)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", script])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        process.StandardInput.Write(JsonSerializer.Serialize(input));
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"python3 with scikit-learn failed: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static JsonElement[] Strings(IEnumerable<string> values) => values.Select(v => JsonSerializer.SerializeToElement(v)).ToArray();

    [Theory]
    [InlineData(1, 200, 10, 0.7)]
    [InlineData(2, 57, 3, 0.2)]
    [InlineData(3, 31, 6, 0.95)]
    public void Classification_metrics_equal_scikit_learn(int seed, int n, int k, double rightShare)
    {
        var random = new Random(seed);
        var classes = Enumerable.Range(0, k).Select(i => $"c{i}").ToArray();
        var labels = Enumerable.Range(0, n).Select(_ => classes[random.Next(k)]).ToArray();
        // some predictions are outside the classes: macro-F1 counts them as scikit-learn does
        var predictions = labels.Select(y => random.NextDouble() < rightShare ? y : random.Next(10) == 0 ? "stray" : classes[random.Next(k)]).ToArray();

        var scores = EvaluationMetrics.Compute(EvaluationTasks.Find("image-classification")!, Strings(labels), Strings(predictions), classes);

        var expected = Sklearn("""
            import json, sys
            from sklearn import metrics
            d = json.load(sys.stdin)
            y, p, c = d["y"], d["p"], d["classes"]
            print(json.dumps({
              "accuracy": metrics.accuracy_score(y, p),
              "macro_f1": metrics.f1_score(y, p, average="macro", zero_division=0),
              "recall": list(metrics.recall_score(y, p, labels=c, average=None, zero_division=0)),
              "matrix": metrics.confusion_matrix(y, p, labels=c).tolist()}))
            """, new { y = labels, p = predictions, classes });
        Assert.Equal(expected.GetProperty("accuracy").GetDouble(), scores.Metrics["accuracy"], 12);
        Assert.Equal(expected.GetProperty("macro_f1").GetDouble(), scores.Metrics["macro_f1"], 12);
        var recall = expected.GetProperty("recall").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (var i = 0; i < k; i++)
            Assert.Equal(recall[i], scores.PerClassRecall![classes[i]] ?? 0, 12);
        var matrix = expected.GetProperty("matrix").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt64()).ToArray()).ToArray();
        for (var i = 0; i < k; i++)
            Assert.Equal(matrix[i], scores.ConfusionMatrix![i][..k]);
        // the stray predictions are counted in the extra "(other)" column
        var strays = predictions.Count(p => p == "stray");
        Assert.Equal(strays > 0, scores.OtherPredictions);
        Assert.Equal(strays, scores.ConfusionMatrix!.Sum(row => row.Length > k ? row[k] : 0));
        Assert.Equal(labels.Zip(predictions).Select(x => x.First == x.Second), scores.Records.Select(r => r.Correct));
    }

    [Theory]
    [InlineData(4, 100, 0.5)]
    [InlineData(5, 12, 3.0)]
    public void Regression_metrics_equal_scikit_learn(int seed, int n, double noise)
    {
        var random = new Random(seed);
        var labels = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 10 - 5).ToArray();
        var predictions = labels.Select(y => y + (random.NextDouble() - 0.5) * noise).ToArray();
        var scores = EvaluationMetrics.Compute(EvaluationTasks.Find("regression")!,
            labels.Select(v => JsonSerializer.SerializeToElement(v)).ToArray(), predictions.Select(v => JsonSerializer.SerializeToElement(v)).ToArray());
        var expected = Sklearn("""
            import json, sys, math
            from sklearn import metrics
            d = json.load(sys.stdin)
            y, p = d["y"], d["p"]
            print(json.dumps({"mae": metrics.mean_absolute_error(y, p), "rmse": math.sqrt(metrics.mean_squared_error(y, p)),
                              "r2": metrics.r2_score(y, p)}))
            """, new { y = labels, p = predictions });
        foreach (var name in new[] { "mae", "rmse", "r2" })
            Assert.Equal(expected.GetProperty(name).GetDouble(), scores.Metrics[name], 9);
        Assert.Equal(Math.Abs(predictions[0] - labels[0]), scores.Records[0].Score!.Value, 12);
    }

    [Fact]
    public void A_constant_label_gives_r2_as_scikit_learn_does()
    {
        var task = EvaluationTasks.Find("regression")!;
        JsonElement[] Numbers(params double[] v) => v.Select(x => JsonSerializer.SerializeToElement(x)).ToArray();
        Assert.Equal(1.0, EvaluationMetrics.Compute(task, Numbers(2, 2), Numbers(2, 2)).Metrics["r2"]);
        Assert.Equal(0.0, EvaluationMetrics.Compute(task, Numbers(2, 2), Numbers(2, 3)).Metrics["r2"]);
    }

    [Theory]
    [InlineData("The Cat sat.", "cat sat", true, 1.0)]
    [InlineData("an apple, a pear", "Apple pear!", true, 1.0)]
    [InlineData("Paris", "paris france", false, 2.0 / 3)]
    [InlineData("", "", true, 1.0)]
    [InlineData("the", "London", false, 0.0)]
    [InlineData("red red blue", "red blue blue", false, 2.0 / 3)]
    public void Exact_match_and_token_f1_follow_SQuAD(string prediction, string answer, bool exact, double f1)
    {
        var scores = EvaluationMetrics.Compute(EvaluationTasks.Find("question-answering")!, Strings([answer]), Strings([prediction]));
        Assert.Equal(exact ? 1.0 : 0.0, scores.Metrics["exact_match"]);
        Assert.Equal(f1, scores.Metrics["token_f1"], 12);
    }

    [Fact]
    public void Predictions_of_the_wrong_type_are_named()
    {
        var classification = EvaluationTasks.Find("text-classification")!;
        Assert.Null(EvaluationMetrics.Problem(classification, JsonSerializer.SerializeToElement("spam")));
        Assert.Null(EvaluationMetrics.Problem(classification, JsonSerializer.SerializeToElement(3)));
        Assert.Equal("\"3\"", EvaluationMetrics.Normalise(classification, JsonSerializer.SerializeToElement(3)).GetRawText());
        Assert.Contains("needs a class label", EvaluationMetrics.Problem(classification, JsonSerializer.SerializeToElement(new[] { 1 })));
        Assert.Contains("needs a number", EvaluationMetrics.Problem(EvaluationTasks.Find("regression")!, JsonSerializer.SerializeToElement("1.5")));
        Assert.Contains("needs a string", EvaluationMetrics.Problem(EvaluationTasks.Find("text-generation")!, JsonDocument.Parse("null").RootElement));
    }

    [Fact]
    public void Every_task_names_a_primary_metric_it_has()
    {
        foreach (var task in EvaluationTasks.All)
            Assert.Contains(task.Metrics, m => m.Name == task.PrimaryMetric);
        Assert.False(EvaluationTasks.Find("regression")!.Primary.HigherIsBetter);
        Assert.Equal(Feather.Datasets.DatasetTasks.All.Order(), EvaluationTasks.All.Select(t => t.Name).Order());
    }
}

/// <summary>The Evaluations settings name the wrong key.</summary>
public sealed class EvaluationOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_bad_values_name_their_key()
    {
        Assert.Empty(new EvaluationOptions().Validate());
        var errors = new EvaluationOptions { MaxConcurrent = 0, ChunkRecords = 0, ChunkBytes = 10 }.Validate().ToList();
        Assert.Contains(errors, e => e.StartsWith("Evaluations:MaxConcurrent must be at least 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Evaluations:ChunkRecords must be at least 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Evaluations:ChunkBytes must be at least 65536", StringComparison.Ordinal));
    }
}

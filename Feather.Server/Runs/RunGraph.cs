using System.Text.Json;

namespace Feather.Server.Runs;

/// <summary>One edge of the graph of steps: <paramref name="To"/> null ends the run; <paramref name="When"/> is the branch's name.</summary>
public sealed record GraphEdge(string From, string? To, string? When);

/// <summary>
/// The graph of steps of a model version (docs/contracts.md section 1, <c>graph</c>), read from its metadata: a linear
/// model's (no <c>graph</c> key) is each step followed by the next. The one rule of what may follow a step that
/// succeeded (the SDK's <c>feather.graph.next_steps</c> is the same rule): a branching step's result names its branch,
/// whose edge gives the next step; a loop step may run again (branch <c>again</c>, below its bound) or move on
/// (its <c>done</c> edge, always offered); any other step has one successor. The server applies it to what the step
/// actually returned (the runtime's <c>branch</c>), never to what a client says.
/// </summary>
public sealed class RunGraph
{
    public const string LoopAgain = "again", LoopDone = "done";

    public string Start { get; }
    public bool Linear { get; }
    public IReadOnlyList<GraphEdge> Edges { get; }
    public IReadOnlyDictionary<string, int> Loops { get; }
    /// <summary>The model's steps by name: their index in the metadata's <c>steps</c>.</summary>
    public IReadOnlyDictionary<string, int> StepIndex { get; }

    private RunGraph(string start, bool linear, List<GraphEdge> edges, Dictionary<string, int> loops, Dictionary<string, int> stepIndex)
    {
        Start = start;
        Linear = linear;
        Edges = edges;
        Loops = loops;
        StepIndex = stepIndex;
    }

    public static RunGraph From(JsonElement metadata)
    {
        var names = metadata.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
        var index = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i);
        if (!metadata.TryGetProperty("graph", out var graph) || graph.ValueKind != JsonValueKind.Object)
            return new RunGraph(names[0], true,
                names.Select((n, i) => new GraphEdge(n, i + 1 < names.Count ? names[i + 1] : null, null)).ToList(), [], index);
        var edges = graph.GetProperty("edges").EnumerateArray().Select(e => new GraphEdge(
            e.GetProperty("from").GetString()!, Text(e, "to"), Text(e, "when"))).ToList();
        var loops = graph.TryGetProperty("loops", out var l) && l.ValueKind == JsonValueKind.Array
            ? l.EnumerateArray().ToDictionary(x => x.GetProperty("step").GetString()!, x => x.GetProperty("max").GetInt32())
            : [];
        return new RunGraph(graph.GetProperty("start").GetString()!, false, edges, loops, index);
    }

    private static string? Text(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private IEnumerable<GraphEdge> Out(string step) => Edges.Where(e => e.From == step);

    /// <summary>Whether the step's result must name a branch (a branching or loop step), and the names it may give.</summary>
    public IReadOnlyList<string> Branches(string step) =>
        Out(step).Where(e => e.When is not null).Select(e => e.When!).Distinct().ToList();

    /// <summary>
    /// What may follow <paramref name="step"/>, which succeeded for the <paramref name="iteration"/>-th time in a row and
    /// returned <paramref name="branch"/>: the steps offered (the model's choice first) and whether the run may end there.
    /// </summary>
    public (List<string> Offered, bool Ends) Next(string step, string? branch, int iteration)
    {
        IEnumerable<GraphEdge> edges = Out(step);
        if (Loops.TryGetValue(step, out var bound))
            edges = edges.Where(e => e.When != LoopAgain || (branch != LoopDone && iteration < bound));
        else if (Branches(step).Count > 0)
            edges = edges.Where(e => e.When == branch);
        var list = edges.ToList();
        return (list.Where(e => e.To is not null).Select(e => e.To!).Distinct().ToList(), list.Any(e => e.To is null));
    }

    /// <summary>Says why a step's reported branch does not fit the graph (null when it does).</summary>
    public string? BranchProblem(string step, string? branch)
    {
        var declared = Branches(step);
        if (declared.Count == 0)
            return branch is null ? null : $"step '{step}' declares no branches but its result names branch '{branch}'";
        if (branch is null || !declared.Contains(branch))
            return $"step '{step}' must report one of its branches ({string.Join(", ", declared)}), its result named " +
                   (branch is null ? "none" : $"'{branch}'");
        return null;
    }
}

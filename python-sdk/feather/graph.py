"""The graph of steps (docs/sdk.md, "Branches and loops"): branches, loops and `then`, checked without running a step.

A model whose steps declare none of `branches`, `loop` or `then` is linear and never comes here. For the others,
`analyze_graph` builds the edges, checks them (each target exists, each step is reachable, every cycle is a bounded
loop, the types match along every edge) and names each step's outputs after the parameters of the steps that follow
it. `next_steps` is the one rule, shared by local runs, that says which steps may follow a finished one; the server
applies the same rule to the metadata's `graph` (Feather.Server/Runs/RunGraph.cs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ModelDefinitionError
from .model import BRANCH_RE, END, LOOP_AGAIN, LOOP_DONE, Slot, StepInfo, _match_params


@dataclass(frozen=True)
class Edge:
    source: str
    target: str | None  # None: the run ends
    when: str | None  # the branch (condition) name; None for a step's only successor


@dataclass
class Graph:
    start: str
    edges: list[Edge]
    loops: dict[str, int] = field(default_factory=dict)
    branching: set[str] = field(default_factory=set)

    def out(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.source == name]

    def describe(self) -> dict[str, Any]:
        """The metadata's `graph` (docs/contracts.md section 1)."""
        return {"start": self.start,
                "edges": [{"from": e.source, "to": e.target, "when": e.when} for e in self.edges],
                "loops": [{"step": name, "max": bound} for name, bound in self.loops.items()]}


def next_steps(graph: Graph, name: str, branch: str | None, iteration: int) -> tuple[list[str], bool]:
    """After step `name` succeeded (its `iteration`-th time in a row, returning `branch`): the steps that may come
    next, the model's choice first, and whether the run may end there."""
    edges = graph.out(name)
    if name in graph.loops:
        offered, ends = [], False
        for e in edges:
            if e.when == LOOP_AGAIN and (branch == LOOP_DONE or iteration >= graph.loops[name]):
                continue
            if e.target is None:
                ends = True
            else:
                offered.append(e.target)
        return offered, ends
    if name in graph.branching:
        edges = [e for e in edges if e.when == branch]
    targets = [e.target for e in edges]
    return [t for t in targets if t is not None], None in targets


def _fail(info: StepInfo, message: str) -> ModelDefinitionError:
    return ModelDefinitionError(message, info.file, info.line)


def _edges(infos: list[StepInfo]) -> Graph:
    names = [i.name for i in infos]
    graph = Graph(start=names[0], edges=[])

    def target(info: StepInfo, value: Any, what: str) -> str | None:
        if value is END:
            return None
        if not isinstance(value, str):
            raise _fail(info, f"step {info.name!r}: {what} must be a step's name or ftr.END, got {value!r}")
        if value not in names:
            raise _fail(info, f"step {info.name!r}: {what} goes to {value!r}, which is not a step of the model "
                              f"(steps: {', '.join(names)})")
        return value

    for k, info in enumerate(infos):
        flow = getattr(info.fn, "__feather_flow__", {}) or {}
        default = names[k + 1] if k + 1 < len(infos) else END
        if "branches" in flow:
            branches = flow["branches"]
            if "loop" in flow or "then" in flow:
                raise _fail(info, f"step {info.name!r}: branches cannot be combined with loop or then "
                                  "(each branch names the step that follows)")
            if not isinstance(branches, dict) or not branches:
                raise _fail(info, f"step {info.name!r}: branches must be a non-empty dict of branch name -> step name")
            for when, to in branches.items():
                if not isinstance(when, str) or not BRANCH_RE.match(when):
                    raise _fail(info, f"step {info.name!r}: branch name {when!r} must match [a-z][a-z0-9_]*")
                graph.edges.append(Edge(info.name, target(info, to, f"branch {when!r}"), when))
            graph.branching.add(info.name)
            continue
        then = target(info, flow.get("then", default), "then" if "then" in flow else "the next step")
        if "loop" in flow:
            bound = flow["loop"]
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
                raise _fail(info, f"step {info.name!r}: a loop needs a bound: loop=N, the most times the step runs "
                                  f"in a row (an integer >= 1), got {bound!r}")
            if then == info.name:
                raise _fail(info, f"step {info.name!r}: a loop's then must be another step or ftr.END")
            graph.loops[info.name] = bound
            graph.edges.append(Edge(info.name, info.name, LOOP_AGAIN))
            graph.edges.append(Edge(info.name, then, LOOP_DONE))
        else:
            graph.edges.append(Edge(info.name, then, None))
    return graph


def _check_reachable(graph: Graph, infos: list[StepInfo]) -> None:
    seen, todo = {graph.start}, [graph.start]
    while todo:
        for e in graph.out(todo.pop()):
            if e.target is not None and e.target not in seen:
                seen.add(e.target)
                todo.append(e.target)
    for info in infos:
        if info.name not in seen:
            raise _fail(info, f"step {info.name!r} is not reachable: no branch, loop or next step of "
                              f"{graph.start!r} leads to it")


def _check_cycles(graph: Graph, by_name: dict[str, StepInfo]) -> None:
    """Every repetition must be a declared loop (bounded): a cycle through branches or `then` is an error."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for e in graph.out(name):
            if e.target is None or (e.when == LOOP_AGAIN and e.target == name):
                continue
            if state.get(e.target) == 1:
                cycle = stack[stack.index(e.target):] + [e.target]
                raise _fail(by_name[e.target], f"steps {' -> '.join(cycle)} form a loop without a bound; "
                                               "repeat a step with @ftr.step(..., loop=N) instead")
            if e.target not in state:
                visit(e.target)
        stack.pop()
        state[name] = 2

    visit(graph.start)


def _name_outputs(graph: Graph, by_name: dict[str, StepInfo]) -> None:
    for info in by_name.values():
        followers = [by_name[e.target] for e in graph.out(info.name) if e.target is not None]
        names = {tuple(f.params) for f in followers}
        if len(names) > 1:
            listed = "; ".join(f"{f.name!r} takes ({', '.join(f.params)})" for f in followers)
            raise _fail(info, f"the steps that may follow {info.name!r} must name their parameters alike "
                              f"(they receive the same outputs): {listed}")
        if names and len(info.outputs) == len(followers[0].params):
            for slot, param in zip(info.outputs, followers[0].params):
                slot.name = param


def _check_edges(graph: Graph, init_slots: list[Slot], by_name: dict[str, StepInfo]) -> None:
    """The types along every edge: what a step (or init()) returns must fit the parameters of each step after it."""
    first = by_name[graph.start]
    _match_params(first, init_slots, "init()")
    first.inputs = [Slot(p, s.component, s.json_type, s.instance) for p, s in zip(first.params, init_slots)]
    for info in by_name.values():
        sources = [(e, by_name[e.source]) for e in graph.edges if e.target == info.name]
        for edge, source in sources:
            where = f"step {source.name!r}" + (f" (branch {edge.when!r})" if edge.when else "")
            _match_params(info, source.outputs, where)
            if not info.inputs:
                info.inputs = [Slot(p, s.component, s.json_type) for p, s in zip(info.params, source.outputs)]
            for slot, out in zip(info.inputs, source.outputs):
                if slot.component_id != out.component_id:
                    raise _fail(info, f"step {info.name!r}: parameter {slot.name!r} receives {slot.component_id} from "
                                      f"one step and {out.component_id} from {where}; every step before it must agree")
        for edge in graph.out(info.name):
            if edge.target is None and not any(s.component for s in info.outputs):
                raise _fail(info, f"step {info.name!r} may end the run, so it must return at least one component to show")


def analyze_graph(init_slots: list[Slot], infos: list[StepInfo]) -> Graph:
    """Builds and checks the graph of a model whose steps declare branches, loops or `then`."""
    by_name = {i.name: i for i in infos}
    graph = _edges(infos)
    _check_reachable(graph, infos)
    _check_cycles(graph, by_name)
    _name_outputs(graph, by_name)
    _check_edges(graph, init_slots, by_name)
    return graph

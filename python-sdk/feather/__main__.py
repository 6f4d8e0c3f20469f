"""`python3 -m feather inspect PATH`, `python3 -m feather run MODEL --inputs FILE [--json]` and
`python3 -m feather evaluate MODEL --dataset DIR [--json]`,
`python3 -m feather train MODEL --dataset DIR [--param k=v] [--output DIR] [--json]`."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .errors import ModelDefinitionError


def _inspect(args: argparse.Namespace) -> int:
    from .metadata import inspect_path
    try:
        with _quiet():
            metadata = inspect_path(args.path)
    except ModelDefinitionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(metadata, indent=2))
    return 0


class _quiet:
    """Model prints during import go to stderr, so stdout carries only the JSON."""

    def __enter__(self) -> None:
        self._saved = sys.stdout
        sys.stdout = sys.stderr

    def __exit__(self, *exc: Any) -> None:
        sys.stdout = self._saved


def _summary(output: dict[str, Any]) -> list[str]:
    value, component = output.get("value"), output.get("component")
    lines = []
    if component == "Json":
        text = json.dumps(value)
        lines.append(text if len(text) <= 200 else text[:197] + "...")
        return lines
    if not isinstance(value, dict):
        return ["(input: no value shown)"]
    blobs = value.get("images") or value.get("documents") or value.get("files") or []
    texts = value.get("texts") or []
    lists = value.get("lists")
    for i, blob in enumerate(blobs):
        size = len(blob.get("data", "")) * 3 // 4
        line = f"[{i}] {blob.get('name')} ({blob.get('media_type')}, ~{size} bytes)"
        if i < len(texts) and texts[i] is not None:
            line += f": {texts[i]}"
        if lists is not None and i < len(lists):
            line += f"  items: {', '.join(f'{j}={item}' for j, item in enumerate(lists[i])) or '(none)'}"
        lines.append(line)
    if not blobs:
        lines += [str(t) for t in texts]
    if "items" in value:
        lines.append("items: " + ", ".join(f"{j}={item}" for j, item in enumerate(value["items"])))
    return lines


def _run(args: argparse.Namespace) -> int:
    from .loader import resolve
    from .metadata import inspect_path
    from .runtime import run_step, stdout_to_stderr
    try:
        with open(args.inputs, encoding="utf-8") as fh:
            inputs = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"{args.inputs}: cannot read the inputs file: {exc}", file=sys.stderr)
        return 2
    if isinstance(inputs, dict) and "path" in inputs:
        problem = _path_problem(inputs["path"])
        if problem:
            print(f"{args.inputs}: {problem}", file=sys.stderr)
            return 2
    elif not isinstance(inputs, dict) or not isinstance(inputs.get("steps"), list) \
            or not all(isinstance(s, dict) for s in inputs["steps"]):
        print(f'{args.inputs}: expected {{"steps": [{{...responses of step 0...}}, ...]}} '
              f'or {{"path": [{{"step": NAME, "responses": {{...}}}}, ...]}}', file=sys.stderr)
        return 2
    try:
        directory, entrypoint = resolve(args.model)
        with _quiet():
            metadata = inspect_path(args.model, scan_environment=False)
    except ModelDefinitionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if "graph" in metadata or "path" in inputs:
        return _run_path(args, inputs, directory, entrypoint, metadata)
    steps = metadata["steps"]
    if len(inputs["steps"]) > len(steps):
        print(f"{args.inputs}: responses for {len(inputs['steps'])} steps, the model has {len(steps)}", file=sys.stderr)
        return 2
    previous = None
    results = []
    for k, step in enumerate(steps):
        request = {"protocol": 1, "entrypoint": entrypoint, "step": k,
                   "responses": inputs["steps"][k] if k < len(inputs["steps"]) else {}, "previous": previous}
        with stdout_to_stderr():
            result = run_step(request, directory)
        results.append({"step": k, "name": step["name"], **result})
        if result["status"] != "succeeded":
            break
        previous = result["outputs"]
        if not args.json:
            print(f"step {k + 1}/{len(steps)} {step['name']} ({step['title']}): succeeded")
            for output in result["outputs"]:
                print(f"  {output['name']} [{output['component']}]")
                for line in _summary(output):
                    print(f"    {line}")
    return _finish(args, metadata, results)


def _path_problem(path: Any) -> str | None:
    if not isinstance(path, list) or not all(isinstance(e, dict) and isinstance(e.get("step"), str)
                                             and isinstance(e.get("responses", {}), dict) for e in path):
        return 'expected "path": [{"step": NAME, "responses": {input: response}}, ...]'
    return None


def _graph_of(metadata: dict[str, Any]) -> Any:
    """The metadata's graph (a linear model's: each step followed by the next, the last ending the run)."""
    from .graph import Edge, Graph
    if "graph" not in metadata:
        names = [s["name"] for s in metadata["steps"]]
        return Graph(names[0], [Edge(a, b, None) for a, b in zip(names, names[1:] + [None])])
    g = metadata["graph"]
    edges = [Edge(e["from"], e["to"], e["when"]) for e in g["edges"]]
    return Graph(g["start"], edges, {lp["step"]: lp["max"] for lp in g["loops"]},
                 {e.source for e in edges if e.when is not None and e.source not in {lp["step"] for lp in g["loops"]}})


def _run_path(args: argparse.Namespace, inputs: dict[str, Any], directory: str, entrypoint: str,
              metadata: dict[str, Any]) -> int:
    """Follows the graph of steps: at each point the step the inputs file's path names (it must be one the model
    offers after the previous step), or with the "steps" form the model's own choice; until the path ends where
    the run may end."""
    from .graph import next_steps
    from .runtime import run_step, stdout_to_stderr
    graph = _graph_of(metadata)
    index = {s["name"]: k for k, s in enumerate(metadata["steps"])}
    path = inputs.get("path")
    offered, ends, previous, results = [graph.start], False, None, []
    iteration, last_name = 0, None
    limit = sum(graph.loops.values()) + len(index) * 2 + 1
    for position in range(limit):
        if path is not None:
            if position >= len(path):
                if ends:
                    break
                print(f"{args.inputs}: the path ends after step {position} but the run goes on: next is "
                      f"{' or '.join(offered)}", file=sys.stderr)
                return 1
            name, responses = path[position]["step"], path[position].get("responses", {})
            if name not in offered:
                after = f"after {last_name!r}" if last_name else "first"
                print(f"{args.inputs}: path[{position}] names step {name!r}, but {after} the model offers "
                      f"{', '.join(repr(o) for o in offered) or 'nothing (the run ended)'}", file=sys.stderr)
                return 1
        else:
            if not offered:
                break
            if ends and position >= len(inputs["steps"]):
                break
            name = offered[0]
            responses = inputs["steps"][position] if position < len(inputs["steps"]) else {}
        iteration = iteration + 1 if name == last_name else 1
        request = {"protocol": 1, "entrypoint": entrypoint, "step": index[name], "responses": responses,
                   "previous": previous}
        with stdout_to_stderr():
            result = run_step(request, directory)
        step = metadata["steps"][index[name]]
        results.append({"step": position, "name": name, "iteration": iteration, **result})
        if result["status"] != "succeeded":
            break
        previous, last_name = result["outputs"], name
        offered, ends = next_steps(graph, name, result.get("branch"), iteration)
        if not args.json:
            more = (f", iteration {iteration}" if name in graph.loops else "") + \
                   (f", branch {result['branch']!r}" if result.get("branch") else "")
            print(f"step {position + 1} {name} ({step['title']}{more}): succeeded")
            for output in result["outputs"]:
                print(f"  {output['name']} [{output['component']}]")
                for line in _summary(output):
                    print(f"    {line}")
            print(f"  next: {', '.join(offered)}" + (" or the end" if ends and offered else "the end" if ends else ""))
    return _finish(args, metadata, results, [r["name"] for r in results])


def _finish(args: argparse.Namespace, metadata: dict[str, Any], results: list[dict[str, Any]],
            path: list[str] | None = None) -> int:
    last = results[-1]
    if args.json:
        report = {"model": metadata["name"], "status": last["status"], "steps": results}
        if path is not None:
            report["path"] = path
        print(json.dumps(report, indent=2))
    if last["status"] != "succeeded":
        error = last["error"]
        if last["status"] == "invalid_input":
            print(f"step {last['step'] + 1} {last['name']}: invalid input {error['input']!r}: {error['message']}",
                  file=sys.stderr)
        else:
            print(f"step {last['step'] + 1} {last['name']} failed: {error['type']}: {error['message']}", file=sys.stderr)
            for frame in error["frames"]:
                print(f"  {frame['file']}:{frame['line']} in {frame['function']}: {frame['code']}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m feather", description="Feather model tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p_inspect = sub.add_parser("inspect", help="print the model's metadata JSON (runs no step)")
    p_inspect.add_argument("path", help="model file, or a directory holding model.py")
    p_run = sub.add_parser("run", help="run every step locally, with the responses in an inputs file")
    p_run.add_argument("model", help="model file, or a directory holding model.py")
    p_run.add_argument("--inputs", required=True, help='JSON file: {"steps": [{input: response}, ...]} or, naming each step of the path, '
                            '{"path": [{"step": NAME, "responses": {input: response}}, ...]}')
    p_run.add_argument("--json", action="store_true", help="print the step results as JSON")
    p_eval = sub.add_parser("evaluate", help="score the model's predict function on a dataset directory, locally")
    p_eval.add_argument("model", help="model file, or a directory holding model.py")
    p_eval.add_argument("--dataset", required=True, help="dataset directory (dataset.json + records)")
    p_eval.add_argument("--json", action="store_true", help="print metrics and per-record predictions as JSON")
    p_train = sub.add_parser("train", help="run the model's training function on a dataset directory, locally")
    p_train.add_argument("model", help="model file, or a directory holding model.py")
    p_train.add_argument("--dataset", required=True, help="dataset directory (dataset.json + records), labels included")
    p_train.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="a hyperparameter (repeatable); the others take their declared defaults")
    p_train.add_argument("--output", default="train-output", help="empty folder the new weights are written to (default: train-output)")
    p_train.add_argument("--json", action="store_true", help="print params, metrics, progress and the files written as JSON")
    args = parser.parse_args(argv)
    if args.command == "train":
        from .train import main as train_main
        return train_main(args.model, args.dataset, args.param, args.output, args.json)
    if args.command == "evaluate":
        from .evaluate import main as evaluate_main
        return evaluate_main(args.model, args.dataset, args.json)
    return _inspect(args) if args.command == "inspect" else _run(args)


if __name__ == "__main__":
    sys.exit(main())

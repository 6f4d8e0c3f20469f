"""The model's metadata document (docs/contracts.md section 1), built without running a step."""
from __future__ import annotations

import ast
import glob
import inspect
import json
import os
from typing import Any

from . import deps
from .component import registry
from .errors import ModelDefinitionError, PropsError
from .loader import Loaded, load
from .model import Bundle

SCHEMA_VERSION = 1
#: The schema version of a model with a graph of steps (branches, loops); linear models keep version 1.
GRAPH_SCHEMA_VERSION = 2
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "metadata.schema.json")


def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def check_static_props(file: str) -> None:
    """Checks literal props of every component constructor call in the file, including those
    inside steps (which inspect never runs): `ftr.File.Upload(types=[".exe"])` fails here."""
    with open(file, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), file)
    classes = registry()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        inner = node.func.value
        family = inner.attr if isinstance(inner, ast.Attribute) else inner.id if isinstance(inner, ast.Name) else None
        cls = classes.get(f"{family}.{node.func.attr}")
        if cls is None:
            continue
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        given: dict[str, ast.expr] = {}
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred) or i >= len(params):
                break
            given[params[i]] = arg
        for kw in node.keywords:
            if kw.arg is None:  # **kwargs: cannot know
                given = {}
                break
            given[kw.arg] = kw.value
        config = cls.default_config()
        literal = True
        for key, expr in given.items():
            if key not in cls.config:
                continue
            try:
                config[key] = ast.literal_eval(expr)
            except (ValueError, SyntaxError, TypeError):
                literal = False
        if not literal:
            continue
        try:
            cls.check_config(config)
        except PropsError as exc:
            raise ModelDefinitionError(f"invalid props: {exc}", file, node.lineno) from None


def _resolve_bundle(loaded: Loaded, bundle: Bundle | None) -> tuple[list[str], list[str]]:
    directory = loaded.directory
    if bundle is None:
        code = sorted(_local_imports(loaded))
        return code, []

    def expand(patterns: tuple[str, ...], kind: str) -> list[str]:
        out: list[str] = []
        for pattern in patterns:
            norm = pattern.replace("\\", "/")
            if os.path.isabs(norm) or ".." in norm.split("/"):
                raise ModelDefinitionError(f"bundle: {kind} path {pattern!r} must be relative and inside the model directory",
                                           loaded.model.file, loaded.model.line)
            matches = sorted(glob.glob(os.path.join(directory, norm), recursive=True))
            files = [m for m in matches if os.path.isfile(m)]
            if not files:
                raise ModelDefinitionError(f"bundle: {kind} file {pattern!r} not found in {directory}",
                                           loaded.model.file, loaded.model.line)
            out += [os.path.relpath(f, directory).replace(os.sep, "/") for f in files]
        return out

    code = expand(bundle.code_files, "code")
    if loaded.entrypoint not in code:
        code.insert(0, loaded.entrypoint)
    model_files = [m for m in expand(bundle.model_files, "model") if m not in code]
    return sorted(dict.fromkeys(code)), sorted(dict.fromkeys(model_files))


def _local_imports(loaded: Loaded) -> set[str]:
    """The entrypoint plus the model directory's own modules it imports, transitively."""
    directory = loaded.directory
    local = deps.own_modules(directory)
    todo, found = [loaded.entrypoint], set()
    while todo:
        rel = todo.pop()
        if rel in found:
            continue
        found.add(rel)
        path = os.path.join(directory, rel)
        with open(path, encoding="utf-8") as fh:
            modules = deps.imported_modules(fh.read(), path)
        for name in modules & local:
            if os.path.isfile(os.path.join(directory, name + ".py")):
                todo.append(name + ".py")
            else:
                for root, _, files in os.walk(os.path.join(directory, name)):
                    found.update(os.path.relpath(os.path.join(root, f), directory).replace(os.sep, "/")
                                 for f in files if f.endswith(".py"))
    return found


def build_metadata(loaded: Loaded, scan_environment: bool = True) -> dict[str, Any]:
    model = loaded.model
    check_static_props(loaded.file)
    init_slots, steps = model.analyze()
    code, model_files = _resolve_bundle(loaded, model.file_bundle)
    if scan_environment:
        environment = deps.scan(code, loaded.directory, model.python_packages, model.system_packages)
    else:
        environment = {"python": "3", "python_packages": sorted(model.python_packages),
                       "system_packages": sorted(model.system_packages), "imports": []}
    step_docs = [{"name": s.name, "title": s.title, "description": s.description,
                  "inputs": [slot.describe() for slot in s.inputs],
                  "outputs": [slot.describe() for slot in s.outputs]} for s in steps]
    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": model.name,
        "description": model.description,
        "entrypoint": loaded.entrypoint,
        "tags": {"task": sorted(set(model.tasks)), "dataset": sorted(set(model.datasets))},
        "profile": model.profile,
        "environment": environment,
        "bundle": {"code": code, "model": model_files},
        "num_steps": len(steps),
        "init": [slot.describe() for slot in init_slots],
        "steps": step_docs,
        "final_outputs": step_docs[-1]["outputs"],
    }
    if model.title is not None:
        metadata["title"] = model.title
    if model.prepare is not None:
        metadata["prepare"] = True
    if model.predictor is not None:
        metadata["predict"] = model.predictor.describe()
        if model.predictor.task not in metadata["tags"]["task"]:
            metadata["tags"]["task"] = sorted(set(metadata["tags"]["task"]) | {model.predictor.task})
    if model.trainer is not None:
        metadata["train"] = model.trainer.describe()
    if model.graph is not None:
        metadata["schema_version"] = GRAPH_SCHEMA_VERSION
        metadata["graph"] = model.graph.describe()
    return metadata


def inspect_path(path: str, scan_environment: bool = True) -> dict[str, Any]:
    """`python3 -m feather inspect PATH` as a function. Raises ModelDefinitionError."""
    from . import _jsonschema
    metadata = build_metadata(load(path), scan_environment)
    problems = _jsonschema.errors(metadata, load_schema())
    if problems:
        raise ModelDefinitionError("the metadata does not match metadata.schema.json: " + "; ".join(problems[:5]))
    return metadata

"""Declaring a model: `build`, `step`, `bundle`, and the static analysis of a declaration.

Nothing here runs a step. `init()` is called (it only constructs the components shown first);
steps are introspected through their signatures and return annotations.
"""
from __future__ import annotations

import inspect
import re
import sys
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from .component import Component
from .errors import ModelDefinitionError, PropsError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TITLE_MAX = 200


def slugify(text: str) -> str:
    """The URL name of a display name: accents dropped, lower-case, every run of other characters one hyphen,
    hyphens trimmed, at most 63 characters ("Palette questions" -> "palette-questions")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:63].rstrip("-")
PROFILES = ("low", "medium", "high")


class _End:
    """`ftr.END`: where a branch or a step's `then` ends the run."""

    def __repr__(self) -> str:
        return "ftr.END"


END: Any = _End()
_UNSET: Any = object()
BRANCH_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: A loop step's two edges: run again (on its own outputs), or move on to its `then`.
LOOP_AGAIN, LOOP_DONE = "again", "done"


@dataclass(frozen=True)
class Branch:
    """What a branching step returns: the branch taken and the step's outputs (`ftr.branch`, `ftr.done`)."""

    name: str
    value: Any


def branch(name: str, *outputs: Any) -> Branch:
    """Returns a branching step's outputs and the branch they take: `return ftr.branch("unsure", text, guesses)`."""
    if not isinstance(name, str):
        raise TypeError("ftr.branch: the first argument is the branch's name")
    return Branch(name, outputs[0] if len(outputs) == 1 else tuple(outputs))


def done(*outputs: Any) -> Branch:
    """Returns a loop step's outputs and ends its loop: the step's `then` comes next."""
    return Branch(LOOP_DONE, outputs[0] if len(outputs) == 1 else tuple(outputs))

#: Models declared by `build` (the loader takes the ones built while importing a model file).
_BUILT: list["Model"] = []


@dataclass(frozen=True)
class Bundle:
    code_files: tuple[str, ...]
    model_files: tuple[str, ...] = ()


def bundle(code_files: list[str], model_files: list[str] | None = None) -> Bundle:
    """Which files are published with the model: code (Python) and model files (weights, data).
    Paths are relative to the model directory; glob patterns (`*.py`, `weights/**`) are allowed."""
    if isinstance(code_files, str) or not all(isinstance(p, str) for p in code_files):
        raise TypeError("bundle: code_files must be a list of paths")
    model_files = list(model_files or [])
    if not all(isinstance(p, str) for p in model_files):
        raise TypeError("bundle: model_files must be a list of paths")
    return Bundle(tuple(code_files), tuple(model_files))


def step(title: str | None = None, description: str | None = None,
         outputs: list[str] | None = None, *, branches: dict[str, Any] | None = None,
         loop: Any = None, then: Any = _UNSET) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Labels a step for people: `@ftr.step("Detect objects", "Runs a face detector")`.
    `outputs` names what the last step returns (other steps' outputs are named by the next
    step's parameters).

    The graph of steps (docs/sdk.md, "Branches and loops"); a model using none of these is linear:
    - `branches={"confident": ftr.END, "unsure": "choose"}`: the step returns `ftr.branch(name, ...)`
      and the step named by that branch comes next (`ftr.END`: the run ends).
    - `loop=8`: the step may run again (at most 8 times in a row) on its own outputs, with the
      user's new responses, until it returns `ftr.done(...)` or the user moves on to `then`.
    - `then="save"` (or `ftr.END`): the step that follows (default: the next one in `steps`)."""
    if callable(title):  # used bare: @ftr.step
        fn = title
        fn.__feather_step__ = {"title": None, "description": None, "outputs": None}  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__feather_step__ = {"title": title, "description": description,  # type: ignore[attr-defined]
                               "outputs": list(outputs) if outputs is not None else None}
        flow = {k: v for k, v in (("branches", branches), ("loop", loop)) if v is not None}
        if then is not _UNSET:
            flow["then"] = then
        if flow:
            fn.__feather_flow__ = flow  # type: ignore[attr-defined]
        return fn
    return mark


@dataclass
class Slot:
    """One input or output of a step: a component class, or a JSON value with a Python type."""

    name: str
    component: type[Component] | None
    json_type: Any = None
    instance: Component | None = None  # init components only

    @property
    def component_id(self) -> str:
        return self.component.component if self.component else "Json"

    def describe(self) -> dict[str, Any]:
        if self.component is None:
            return {"name": self.name, "component": "Json", "version": 1,
                    "props": {"type": type_name(self.json_type)},
                    "schema": {"value": json_schema(self.json_type), "response": None}}
        out: dict[str, Any] = {"name": self.name, "component": self.component.component,
                               "version": self.component.version,
                               "interactive": self.component.interactive,
                               "props": self.instance.props() if self.instance else {},
                               # an init component's exact response rules; a later step's come with its outputs
                               "schema": self.instance.exact_schema() if self.instance else self.component.schema()}
        if self.instance is not None and self.instance.value() is not None:
            out["value"] = self.instance.value()
        return out


@dataclass
class StepInfo:
    fn: Callable[..., Any]
    name: str
    title: str
    description: str
    params: list[str]
    outputs: list[Slot]
    inputs: list[Slot] = field(default_factory=list)
    file: str = ""
    line: int = 0


@dataclass
class Model:
    name: str
    init: Callable[[], Any]
    steps: list[Callable[..., Any]]
    description: str = ""
    file_bundle: Bundle | None = None
    tasks: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    profile: str = "low"
    python_packages: list[str] = field(default_factory=list)
    system_packages: list[str] = field(default_factory=list)
    file: str = ""
    line: int = 0
    #: The display name, when it is not the URL name itself ("Palette questions" for palette-questions).
    title: str | None = None
    #: The model's one-off preparation (load weights, build a pipeline); its return value is `ftr.prepared()`.
    prepare: Callable[[], Any] | None = None
    #: How the model answers dataset records (@ftr.predict), for evaluations; None when it declares none.
    predictor: Any = None
    #: How the model trains on a dataset (@ftr.train), for fine-tuning; None when it declares none.
    trainer: Any = None
    #: The graph of steps (feather.graph.Graph) found by `analyze`; None for a linear model.
    graph: Any = None

    def analyze(self) -> tuple[list[Slot], list[StepInfo]]:
        """Checks the declaration and returns (init slots, steps). Raises ModelDefinitionError."""
        infos = [_step_info(fn, self) for fn in self.steps]
        seen: dict[str, StepInfo] = {}
        for info in infos:
            if info.name in seen:
                raise ModelDefinitionError(f"duplicate step name {info.name!r} (first defined at line {seen[info.name].line})",
                                           info.file, info.line)
            seen[info.name] = info
        init_slots = _init_slots(self, infos[0])
        if any(getattr(info.fn, "__feather_flow__", None) for info in infos):
            from .graph import analyze_graph
            self.graph = analyze_graph(init_slots, infos)
            return init_slots, infos
        self.graph = None
        previous = init_slots
        for k, info in enumerate(infos):
            _match_params(info, previous, "init()" if k == 0 else f"step {infos[k - 1].name!r}")
            info.inputs = [Slot(p, s.component, s.json_type, s.instance) for p, s in zip(info.params, previous)]
            if k + 1 < len(infos):
                names = infos[k + 1].params
                if len(names) == len(info.outputs):
                    for slot, name in zip(info.outputs, names):
                        slot.name = name
            previous = info.outputs
        if not any(s.component for s in infos[-1].outputs):
            last = infos[-1]
            raise ModelDefinitionError(f"the last step {last.name!r} must return at least one component to show",
                                       last.file, last.line)
        return init_slots, infos


def build(name: str, init: Callable[[], Any], steps: list[Callable[..., Any]], description: str = "",
          file_bundle: Bundle | None = None, *, tasks: list[str] | None = None,
          datasets: list[str] | None = None, profile: str = "low",
          python_packages: list[str] | None = None, system_packages: list[str] | None = None,
          slug: str | None = None, title: str | None = None,
          prepare: Callable[[], Any] | None = None,
          predict: Callable[[list[dict[str, Any]]], list[Any]] | None = None,
          train: Callable[..., Any] | None = None) -> Model:
    """Declares a model. Runs nothing: `python3 -m feather inspect` reads the declaration.

    `name` is the URL name (hello-world) or a display name ("Palette questions"): a display name becomes the
    title, and the URL name is derived from it (palette-questions) unless `slug` gives it.
    """
    caller = sys._getframe(1)
    file, line = caller.f_code.co_filename, caller.f_lineno

    def fail(message: str) -> ModelDefinitionError:
        return ModelDefinitionError(message, file, line)

    if not isinstance(name, str) or not name.strip():
        raise fail("name must be a non-empty string: the model's URL name (hello-world) or display name (\"Hello world\")")
    if title is not None and (not isinstance(title, str) or not title.strip() or len(title.strip()) > TITLE_MAX
                              or any(unicodedata.category(c) == "Cc" for c in title)):
        raise fail(f"title must be a non-empty string of at most {TITLE_MAX} characters without control characters")
    title = title.strip() if title is not None else None
    if slug is not None:
        if not isinstance(slug, str) or not NAME_RE.match(slug):
            raise fail(f"slug {slug!r} must match [a-z0-9][a-z0-9-]{{0,62}} (lower-case letters, digits and '-')")
        url_name, display = slug, (title or (name.strip() if name.strip() != slug else None))
    elif NAME_RE.match(name):
        url_name, display = name, title
    else:
        url_name, display = slugify(name), title or name.strip()
        if not NAME_RE.match(url_name):
            raise fail(f"cannot make a URL name from {name!r} (it needs letters or digits): pass slug='my-model'")
    if display is not None and (len(display) > TITLE_MAX or any(unicodedata.category(c) == "Cc" for c in display)):
        raise fail(f"the display name must be at most {TITLE_MAX} characters without control characters")
    if not callable(init):
        raise fail("init must be a function returning the components shown first")
    if not isinstance(steps, (list, tuple)) or not steps or not all(callable(s) for s in steps):
        raise fail("steps must be a non-empty list of functions")
    if prepare is not None and not callable(prepare):
        raise fail("prepare must be a function taking no arguments (it loads what every step needs)")
    predictor = None
    if predict is not None:
        from .predict import predictor_of
        predictor = predictor_of(predict, file, line)
    trainer = None
    if train is not None:
        from .train import trainer_of
        trainer = trainer_of(train, file, line)
    if profile not in PROFILES:
        raise fail(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if file_bundle is not None and not isinstance(file_bundle, Bundle):
        raise fail("file_bundle must come from ftr.bundle(code_files, model_files)")
    lists = {}
    for key, value in (("tasks", tasks), ("datasets", datasets), ("python_packages", python_packages),
                       ("system_packages", system_packages)):
        value = list(value or [])
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise fail(f"{key} must be a list of non-empty strings")
        lists[key] = value
    for pkg in lists["system_packages"]:
        if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", pkg):
            raise fail(f"system package {pkg!r} is not a Debian package name")
    model = Model(name=url_name, title=display, init=init, steps=list(steps), description=description or "",
                  file_bundle=file_bundle, profile=profile, file=file, line=line, prepare=prepare, predictor=predictor,
                  trainer=trainer, **lists)
    _BUILT.append(model)
    return model


_PREPARED: dict[int, Any] = {}


def run_prepare(model: Model) -> Any:
    """Runs the model's preparation once per process and keeps its value (None without one)."""
    if id(model) not in _PREPARED:
        _PREPARED[id(model)] = model.prepare() if model.prepare is not None else None
    return _PREPARED[id(model)]


def prepared() -> Any:
    """The value returned by the model's `prepare` function (run once, before any step sees input)."""
    if not _BUILT:
        raise ModelDefinitionError("ftr.prepared() needs a model declared with ftr.build(..., prepare=...)")
    return run_prepare(_BUILT[-1])


# ---- introspection ---------------------------------------------------------------------------

JSON_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def is_component(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Component) and bool(getattr(tp, "component", ""))


def is_json_type(tp: Any) -> bool:
    if tp is typing.Any or tp in JSON_SCALARS or tp in (list, dict):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return all(is_json_type(a) for a in args)
    if origin is dict:
        return len(args) == 2 and args[0] is str and is_json_type(args[1])
    if origin in (typing.Union, types.UnionType):
        return all(is_json_type(a) for a in args)
    return False


def type_name(tp: Any) -> str:
    if tp is typing.Any:
        return "Any"
    if isinstance(tp, type) and not typing.get_args(tp):
        return "None" if tp is type(None) else tp.__name__
    return str(tp).replace("typing.", "")


def json_schema(tp: Any) -> dict[str, Any]:
    if tp is typing.Any:
        return {}
    if tp in JSON_SCALARS:
        return {"type": JSON_SCALARS[tp]}
    if tp is list:
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])} if args else {"type": "array"}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    return {"anyOf": [json_schema(a) for a in args]}


def conforms(value: Any, tp: Any) -> bool:
    """Does a returned value fit a JSON annotation (deeply)?"""
    if tp is typing.Any:
        return _is_json(value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in JSON_SCALARS:
        return isinstance(value, tp)
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0] if args else typing.Any) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and conforms(v, args[1] if args else typing.Any)
                                               for k, v in value.items())
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    return False


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _where(fn: Callable[..., Any]) -> tuple[str, int]:
    code = getattr(fn, "__code__", None)
    if code is None:
        return "", 0
    try:
        lines, start = inspect.getsourcelines(fn)
        for offset, text in enumerate(lines):
            if text.lstrip().startswith(("def ", "async def ")):
                return code.co_filename, start + offset
    except (OSError, TypeError):
        pass
    return code.co_filename, code.co_firstlineno


def _step_info(fn: Callable[..., Any], model: Model) -> StepInfo:
    file, line = _where(fn)
    name = getattr(fn, "__name__", "")
    labels = getattr(fn, "__feather_step__", {}) or {}
    if not name or name == "<lambda>":
        raise ModelDefinitionError("steps must be named functions (def), not lambdas", file or model.file, line or model.line)
    if inspect.iscoroutinefunction(fn):
        raise ModelDefinitionError(f"step {name!r} is async; steps must be plain functions", file, line)
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise ModelDefinitionError(f"step {name!r}: parameter {p.name!r} must be a plain positional parameter", file, line)
        params.append(p.name)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # NameError etc. from string annotations
        raise ModelDefinitionError(f"step {name!r}: cannot resolve its annotations: {exc}", file, line) from None
    if "return" not in hints:
        raise ModelDefinitionError(
            f"step {name!r} has no return annotation; declare the components it returns, e.g. '-> ftr.Text.View'",
            file, line)
    outputs = _output_slots(hints["return"], name, file, line)
    names = labels.get("outputs")
    if names is not None:
        if len(names) != len(outputs) or len(set(names)) != len(names):
            raise ModelDefinitionError(f"step {name!r}: outputs={names!r} must name each of its {len(outputs)} output(s) once",
                                       file, line)
    else:
        names = ["output"] if len(outputs) == 1 else [f"output_{i + 1}" for i in range(len(outputs))]
    for slot, out_name in zip(outputs, names):
        slot.name = out_name
    info = StepInfo(fn=fn, name=name, title=labels.get("title") or name.replace("_", " ").capitalize(),
                    description=labels.get("description") or "", params=params, outputs=outputs,
                    file=file, line=line)
    info.param_hints = {p: hints[p] for p in params if p in hints}  # type: ignore[attr-defined]
    return info


def _output_slots(annotation: Any, step_name: str, file: str, line: int) -> list[Slot]:
    parts = list(typing.get_args(annotation)) if typing.get_origin(annotation) is tuple else [annotation]
    if not parts or Ellipsis in parts:
        raise ModelDefinitionError(f"step {step_name!r}: a tuple return annotation must list each output, e.g. "
                                   "'-> tuple[ftr.Image.View, ftr.Text.View]'", file, line)
    slots = []
    for i, tp in enumerate(parts):
        if is_component(tp):
            slots.append(Slot(f"output_{i + 1}", tp))
        elif isinstance(tp, type) and any(is_component(v) for v in vars(tp).values()):
            raise ModelDefinitionError(f"step {step_name!r}: {tp.__name__} is a component family, not a component; "
                                       f"use e.g. {tp.__name__}.View", file, line)
        elif is_json_type(tp):
            slots.append(Slot(f"output_{i + 1}", None, tp))
        else:
            raise ModelDefinitionError(
                f"step {step_name!r}: return annotation {type_name(tp)} is neither a feather component "
                "(e.g. ftr.Image.View) nor a JSON type (str, int, float, bool, list, dict)", file, line)
    return slots


def _model_frame(tb: Any, model_file: str) -> int:
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == model_file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _init_slots(model: Model, first: StepInfo) -> list[Slot]:
    file, line = _where(model.init)
    file = file or model.file
    try:
        if inspect.signature(model.init).parameters:
            raise ModelDefinitionError("init() must take no arguments", file, line)
    except (TypeError, ValueError):
        pass
    try:
        result = model.init()
    except PropsError as exc:
        raise ModelDefinitionError(f"invalid props: {exc}", file, _model_frame(exc.__traceback__, file) or line) from None
    except ModelDefinitionError:
        raise
    except Exception as exc:
        at = _model_frame(exc.__traceback__, file) or line
        raise ModelDefinitionError(f"init() raised {type(exc).__name__}: {exc}", file, at) from None
    items = list(result) if isinstance(result, (tuple, list)) else [result]
    slots = []
    for i, item in enumerate(items):
        if not isinstance(item, Component):
            raise ModelDefinitionError(f"init() must return components; item {i} is a {type(item).__name__}", file, line)
        slots.append(Slot(first.params[i] if i < len(first.params) else f"input_{i + 1}", type(item), None, item))
    if not slots:
        raise ModelDefinitionError("init() returned no components", file, line)
    return slots


def _match_params(info: StepInfo, previous: list[Slot], source: str) -> None:
    if len(info.params) != len(previous):
        got = ", ".join(s.component_id for s in previous)
        raise ModelDefinitionError(
            f"step {info.name!r} takes {len(info.params)} parameter(s) ({', '.join(info.params) or 'none'}) "
            f"but {source} returns {len(previous)} ({got})", info.file, info.line)
    hints = getattr(info, "param_hints", {})
    for param, slot in zip(info.params, previous):
        if param not in hints:
            continue
        want = hints[param]
        if is_component(want):
            if slot.component is not want:
                raise ModelDefinitionError(
                    f"step {info.name!r}: parameter {param!r} is annotated {want.component} but {source} "
                    f"returns {slot.component_id} there", info.file, info.line)
        elif slot.component is not None:
            raise ModelDefinitionError(
                f"step {info.name!r}: parameter {param!r} is annotated {type_name(want)} but {source} "
                f"returns the component {slot.component_id} there", info.file, info.line)

"""The in-container step runtime (docs/contracts.md section 3): `python3 -m feather.runtime`.

Reads one request from stdin, runs one step (or an evaluate or train request), and writes JSON lines to stdout, the result last.
Whatever the model prints (Python or C level) goes to stderr, which the server keeps as the log.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from typing import Any, Callable, Iterator

from . import _binary
from .component import Component
from .errors import ModelDefinitionError, PayloadError
from .loader import load
from .metadata import check_static_props
from .model import Slot, StepInfo, conforms, run_prepare, type_name

#: The protocol this runtime speaks; it also answers requests of the protocols in SUPPORTED.
#: 2: binary payloads are files in the step's file area ({"path": "in/..."} in, {"path": "out/..."} out).
#: 1: binary payloads are inline base64 ({"data": ...}) both ways.
PROTOCOL = 2
SUPPORTED = (1, 2)


class _Invalid(Exception):
    def __init__(self, input_name: str | None, message: str) -> None:
        super().__init__(message)
        self.input = input_name
        self.message = message


def _failed(kind: str, message: str, frames: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "result", "status": "failed",
            "error": {"type": kind, "message": message, "frames": frames or []}}


def _frames(tb: Any, directory: str) -> list[dict[str, Any]]:
    """The traceback frames that belong to the model's own code, innermost last."""
    out = []
    root = os.path.realpath(directory) + os.sep
    for frame in traceback.extract_tb(tb):
        path = os.path.realpath(frame.filename)
        if path.startswith(root):
            out.append({"file": os.path.relpath(path, root).replace(os.sep, "/"), "line": frame.lineno,
                        "function": frame.name, "code": (frame.line or "").strip()})
    return out


def _check_request(request: Any) -> tuple[str, int, dict[str, Any], list[Any] | None]:
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    if request.get("protocol") not in SUPPORTED:
        raise ValueError(f"unsupported protocol {request.get('protocol')!r}; this runtime speaks protocols "
                         f"{', '.join(map(str, SUPPORTED))}")
    files = request.get("files")
    if request.get("protocol") >= 2 and (not isinstance(files, str) or not os.path.isabs(files)):
        raise ValueError("'files' must be the absolute path of the step's file area (protocol 2)")
    entrypoint = request.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        raise ValueError("'entrypoint' must be the model file's path")
    step = request.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError("'step' must be a non-negative integer")
    responses = request.get("responses") or {}
    if not isinstance(responses, dict):
        raise ValueError("'responses' must be an object keyed by input name")
    previous = request.get("previous")
    if previous is not None and not isinstance(previous, list):
        raise ValueError("'previous' must be the outputs array of the previous step, or null")
    return entrypoint, step, responses, previous


def _inputs(step: int, info: StepInfo, init_slots: list[Slot], responses: dict[str, Any],
            previous: list[Any] | None) -> list[Any]:
    args: list[Any] = []
    if step == 0 and previous is None:  # a loop on the first step runs again on its own outputs
        components: list[Any] = [slot.instance for slot in init_slots]
    else:
        if previous is None:
            raise _Invalid(None, f"step {step} needs 'previous': the outputs of step {step - 1}")
        by_name = {o.get("name"): o for o in previous if isinstance(o, dict)}
        components = []
        for slot in info.inputs:
            out = by_name.get(slot.name)
            if out is None:
                raise _Invalid(slot.name, f"'previous' has no output named {slot.name!r}")
            if out.get("component") != slot.component_id:
                raise _Invalid(slot.name, f"'previous' gives a {out.get('component')} for {slot.name!r}, "
                                          f"the model declares {slot.component_id}")
            if slot.component is None:
                if not conforms(out.get("value"), slot.json_type):
                    raise _Invalid(slot.name, f"value does not match its declared type {type_name(slot.json_type)}")
                components.append(out.get("value"))
                continue
            try:
                components.append(slot.component.from_output(out.get("props") or {}, out.get("value")))
            except PayloadError as exc:
                raise _Invalid(slot.name, f"previous output is not a valid {slot.component_id}: {exc}") from None
    takes = [s.name for s in info.inputs if s.component is not None and s.component.interactive]
    for key in responses:
        if key not in takes:
            raise _Invalid(key, f"step {info.name!r} has no input {key!r} that takes a response"
                                + (f" (inputs that do: {', '.join(takes)})" if takes else " (it takes none)"))
    for slot, value in zip(info.inputs, components):
        if isinstance(value, Component) and value.interactive:
            if slot.name not in responses:
                raise _Invalid(slot.name, f"missing response for input {slot.name!r} ({slot.component_id})")
            try:
                value.bind(responses[slot.name])
            except PayloadError as exc:
                raise _Invalid(slot.name, str(exc)) from None
        args.append(value)
    return args


def _outputs(info: StepInfo, returned: Any) -> list[dict[str, Any]]:
    slots = info.outputs
    if len(slots) == 1:
        values = [returned]
    elif isinstance(returned, (tuple, list)) and len(returned) == len(slots):
        values = list(returned)
    else:
        got = f"a tuple of {len(returned)}" if isinstance(returned, tuple) else f"a {type(returned).__name__}"
        raise PayloadError(f"step {info.name!r} returned {got}, declared {len(slots)} outputs "
                           f"({', '.join(s.component_id for s in slots)})")
    outputs = []
    for slot, value in zip(slots, values):
        if slot.component is None:
            if not conforms(value, slot.json_type):
                raise PayloadError(f"step {info.name!r}: output {slot.name!r} is declared {type_name(slot.json_type)} "
                                   f"(JSON) but the step returned a {type(value).__name__}")
            outputs.append({"name": slot.name, "component": "Json", "version": 1,
                            "props": {"type": type_name(slot.json_type)}, "value": value})
        else:
            if type(value) is not slot.component:
                got = value.component if isinstance(value, Component) else type(value).__name__
                raise PayloadError(f"step {info.name!r}: output {slot.name!r} is declared {slot.component.component} "
                                   f"but the step returned {got}")
            outputs.append(value.to_output(slot.name))
    return outputs


class Prepared:
    """A model imported and prepared before any request: the analysed model, or the result line of its failure."""

    def __init__(self, entrypoint: str, model: Any = None, init_slots: list[Slot] | None = None,
                 steps: list[StepInfo] | None = None, failure: dict[str, Any] | None = None) -> None:
        self.entrypoint = entrypoint
        self.model = model
        self.init_slots = init_slots or []
        self.steps = steps or []
        self.failure = failure


def prepare(directory: str, entrypoint: str) -> Prepared:
    """Imports the model and runs its `prepare` function once. Never raises for the model's faults."""
    try:
        loaded = load(directory, entrypoint)
        check_static_props(loaded.file)
        init_slots, steps = loaded.model.analyze()
    except ModelDefinitionError as exc:
        file = os.path.relpath(exc.file, directory) if exc.file else entrypoint
        return Prepared(entrypoint, failure=_failed("ModelDefinitionError", exc.message,
                                                    [{"file": file, "line": exc.line, "function": "<module>", "code": ""}]))
    try:
        run_prepare(loaded.model)
    except BaseException as exc:  # the model's fault, including SystemExit
        return Prepared(entrypoint, failure=_failed(
            "PreparationError", f"the model's preparation failed: {type(exc).__name__}: {exc}",
            _frames(exc.__traceback__, directory)))
    return Prepared(entrypoint, loaded.model, init_slots, steps)


def run_step(request: Any, directory: str, ready: Prepared | None = None) -> dict[str, Any]:
    """Runs one step and returns the result line (a dict). Never raises for the model's faults.

    `ready` is the model prepared before the request arrived (a prepared container); without it, or when the
    request names another entrypoint, the model is imported and prepared now."""
    try:
        entrypoint, step, responses, previous = _check_request(request)
    except ValueError as exc:
        return _failed("RequestError", str(exc))
    _binary.set_file_area(request.get("files") if request.get("protocol", 1) >= 2 else None)
    try:
        return _run_step(entrypoint, step, responses, previous, directory, ready)
    finally:
        _binary.set_file_area(None)


def _run_step(entrypoint: str, step: int, responses: dict[str, Any], previous: list[Any] | None, directory: str,
              ready: Prepared | None) -> dict[str, Any]:
    if ready is None or ready.entrypoint != entrypoint:
        ready = prepare(directory, entrypoint)
    if ready.failure is not None:
        return ready.failure
    init_slots, steps = ready.init_slots, ready.steps
    if step >= len(steps):
        return _failed("RequestError", f"step {step} does not exist; the model has {len(steps)} step(s)")
    info = steps[step]
    try:
        args = _inputs(step, info, init_slots, responses, previous)
    except _Invalid as exc:
        return {"type": "result", "status": "invalid_input", "error": {"input": exc.input, "message": exc.message}}
    fn: Callable[..., Any] = info.fn
    try:
        returned = fn(*args)
    except BaseException as exc:  # the model's fault, including SystemExit and KeyboardInterrupt
        return _failed(type(exc).__name__, str(exc), _frames(exc.__traceback__, directory))
    try:
        taken, returned = _branch(info, ready.model.graph if ready.model is not None else None, returned)
        outputs = _outputs(info, returned)
        json.dumps(outputs, allow_nan=False)
    except (PayloadError, ValueError, TypeError) as exc:
        return _failed("OutputMismatch", str(exc), [{"file": os.path.relpath(info.file, directory), "line": info.line,
                                                     "function": info.name, "code": ""}])
    result = {"type": "result", "status": "succeeded", "outputs": outputs}
    if taken is not None:
        result["branch"] = taken
    return result


def _branch(info: StepInfo, graph: Any, returned: Any) -> tuple[str | None, Any]:
    """The branch a step's return value takes (None for a step without branches or loop) and its outputs.
    A branching step must return ftr.branch(name, ...) with a declared name; a loop step returns its outputs
    (run again) or ftr.done(...) (move on)."""
    from .graph import LOOP_AGAIN, LOOP_DONE
    from .model import Branch
    if graph is None or (info.name not in graph.branching and info.name not in graph.loops):
        if isinstance(returned, Branch):
            raise PayloadError(f"step {info.name!r} returned ftr.branch({returned.name!r}, ...) but declares no branches")
        return None, returned
    if info.name in graph.loops:
        if isinstance(returned, Branch):
            if returned.name != LOOP_DONE:
                raise PayloadError(f"loop step {info.name!r} returned ftr.branch({returned.name!r}, ...); "
                                   "a loop step returns its outputs, or ftr.done(...) to end the loop")
            return LOOP_DONE, returned.value
        return LOOP_AGAIN, returned
    names = [e.when for e in graph.out(info.name)]
    if not isinstance(returned, Branch):
        raise PayloadError(f"step {info.name!r} declares branches ({', '.join(names)}); "
                           f"return ftr.branch(name, outputs...) with one of them")
    if returned.name not in names:
        raise PayloadError(f"step {info.name!r} returned branch {returned.name!r}; it declares {', '.join(names)}")
    return returned.name, returned.value


def _record_inputs(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of an evaluate request as the predict function gets them (files as RecordFile)."""
    from ._binary import decode
    from .predict import RecordFile
    fields = request.get("fields")
    records = request.get("records")
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        raise ValueError("'fields' must be the list of input fields ({name, type})")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("'records' must be a list of objects keyed by input field")
    files = {f["name"] for f in fields if f.get("type") in ("file", "image")}
    out = []
    for i, record in enumerate(records):
        values: dict[str, Any] = {}
        for key, value in record.items():
            if key in files and value is not None:
                try:
                    blob = decode(value, f"record {i}, field {key!r}")
                except Exception as exc:
                    raise ValueError(str(exc)) from None
                values[key] = RecordFile(blob.name, blob.data, media_type=blob.media_type)
            else:
                values[key] = value
        out.append(values)
    return out


def run_evaluate(request: Any, directory: str, ready: Prepared | None = None) -> dict[str, Any]:
    """Answers an evaluate request (docs/contracts.md section 3b): the predict function over the records, in
    batches; the result line carries one prediction per record. Never raises for the model's faults."""
    from .predict import run_batches
    # evaluate and train requests carry their records' files inline (docs/contracts.md 3b, 3c) under either protocol
    if not isinstance(request, dict) or request.get("protocol") not in SUPPORTED:
        return _failed("RequestError", "unsupported request; this runtime speaks protocols " + ", ".join(map(str, SUPPORTED)))
    entrypoint = request.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        return _failed("RequestError", "'entrypoint' must be the model file's path")
    try:
        records = _record_inputs(request)
    except ValueError as exc:
        return _failed("RequestError", str(exc))
    if ready is None or ready.entrypoint != entrypoint:
        ready = prepare(directory, entrypoint)
    if ready.failure is not None:
        return ready.failure
    predictor = ready.model.predictor
    if predictor is None:
        return _failed("RequestError", "the model declares no predict function (ftr.build(..., predict=fn))")
    try:
        predictions = run_batches(predictor, records)
    except PayloadError as exc:
        return _failed("PredictionError", str(exc), [{"file": os.path.relpath(predictor.file, directory),
                                                      "line": predictor.line, "function": predictor.name, "code": ""}])
    except BaseException as exc:  # the model's fault, including SystemExit
        return _failed(type(exc).__name__, str(exc), _frames(exc.__traceback__, directory))
    try:
        json.dumps(predictions, allow_nan=False)
    except (ValueError, TypeError) as exc:
        return _failed("PredictionError", f"the predictions are not JSON: {exc}")
    return {"type": "result", "status": "succeeded", "predictions": predictions}


def run_train(request: Any, directory: str, ready: Prepared | None = None,
              emit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Answers a train request (docs/contracts.md section 3c): the training function over the records (labels
    included), with the hyperparameters, writing into an empty folder; progress events go out through `emit` as
    they come; the result line carries the files it wrote (base64) and its last metrics. Never raises for the
    model's faults: their traceback goes to the log (stderr)."""
    import base64
    import tempfile
    from .train import from_request, output_files, run_training
    # evaluate and train requests carry their records' files inline (docs/contracts.md 3b, 3c) under either protocol
    if not isinstance(request, dict) or request.get("protocol") not in SUPPORTED:
        return _failed("RequestError", "unsupported request; this runtime speaks protocols " + ", ".join(map(str, SUPPORTED)))
    entrypoint = request.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        return _failed("RequestError", "'entrypoint' must be the model file's path")
    params = request.get("params") or {}
    if not isinstance(params, dict):
        return _failed("RequestError", "'params' must be an object keyed by hyperparameter name")
    try:
        data = from_request(request.get("fields"), request.get("records"))
    except ValueError as exc:
        return _failed("RequestError", str(exc))
    if ready is None or ready.entrypoint != entrypoint:
        ready = prepare(directory, entrypoint)
    if ready.failure is not None:
        return ready.failure
    trainer = ready.model.trainer
    if trainer is None:
        return _failed("RequestError", "the model declares no training function (ftr.build(..., train=fn))")
    try:
        resolved = trainer.resolve(params)
    except ValueError as exc:
        return _failed("RequestError", str(exc))
    output = tempfile.mkdtemp(prefix="feather-train-")
    print(f"training on {len(data)} records with " + ", ".join(f"{k}={v!r}" for k, v in resolved.items()), file=sys.stderr)
    try:
        metrics = run_training(trainer, data, resolved, output, emit)
    except BaseException as exc:  # the model's fault, including SystemExit
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        return _failed(type(exc).__name__, str(exc), _frames(exc.__traceback__, directory))
    try:
        files = output_files(output)
    except ValueError as exc:
        return _failed("OutputError", str(exc), [{"file": os.path.relpath(trainer.file, directory), "line": trainer.line,
                                                  "function": trainer.name, "code": ""}])
    if not files:
        return _failed("OutputError", f"{trainer.name} wrote no file into its output folder (the new weights go there)",
                       [{"file": os.path.relpath(trainer.file, directory), "line": trainer.line, "function": trainer.name, "code": ""}])
    out = []
    for f in files:
        with open(f["file"], "rb") as fh:
            out.append({"path": f["path"], "size": f["size"], "sha256": f["sha256"],
                        "data": base64.b64encode(fh.read()).decode("ascii")})
    return {"type": "result", "status": "succeeded", "metrics": metrics, "params": resolved, "files": out}


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[Callable[[dict[str, Any]], None]]:
    """Points fd 1 (and sys.stdout) at stderr for the duration; yields a writer of JSON lines
    to the real stdout."""
    sys.stdout.flush()
    real = os.dup(1)
    saved_stdout = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(event: dict[str, Any]) -> None:
        os.write(real, (json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8"))
    try:
        yield emit
    finally:
        sys.stderr.flush()
        os.dup2(real, 1)
        os.close(real)
        sys.stdout = saved_stdout


def main() -> int:
    directory = os.environ.get("FEATHER_MODEL_DIR") or os.getcwd()
    with stdout_to_stderr() as emit:
        # A prepared container knows its model's entrypoint up front: import and prepare before any input.
        entrypoint = os.environ.get("FEATHER_ENTRYPOINT")
        ready = prepare(directory, entrypoint) if entrypoint else None
        if ready is not None:
            status = {"type": "status", "status": "prepared", "ok": ready.failure is None}
            if ready.failure is not None:
                status["error"] = ready.failure["error"]  # the runner reports it on the version (docs/contracts.md)
            emit(status)
        raw = sys.stdin.read()
        try:
            request = json.loads(raw)
        except ValueError as exc:
            emit(_failed("RequestError", f"the request on stdin is not JSON: {exc}"))
            return 0
        mode = request.get("mode") if isinstance(request, dict) else None
        emit({"type": "status", "status": "running",
              "step": request.get("step") if isinstance(request, dict) and mode is None else None})
        if mode == "evaluate":
            result = run_evaluate(request, directory, ready)
        elif mode == "train":
            result = run_train(request, directory, ready, emit)
        else:
            result = run_step(request, directory, ready)
        emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

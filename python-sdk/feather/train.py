"""Fine-tuning: how a model trains on a dataset (docs/sdk.md, "Fine-tuning").

    @ftr.train(task="image-classification", params={
        "epochs": ftr.Param(int, default=5, min=1, max=50, description="passes over the data"),
        "lr": ftr.Param(float, default=0.5, min=0.0001, max=10.0, description="learning rate"),
    })
    def train(data: ftr.TrainingData, params: dict, output: str) -> None:
        for epoch in range(1, params["epochs"] + 1):
            loss = ...                                   # one pass over data (records with their labels)
            ftr.report(epoch=epoch, epochs=params["epochs"], loss=loss)
        np.savez(os.path.join(output, "weights.npz"), ...)   # the new version's weights

    ftr.build(..., train=train)

The function gets the dataset's records with every field, labels included (it is training data), read
lazily (a file field's bytes are decoded or read when first used); the hyperparameters, checked against
their declaration and completed with their defaults; and an empty folder. What it writes there becomes
the new version's files: each file replaces the model file at the same path (weights.npz above replaces
the model's weights.npz), new paths are added as model files, and the code stays the same.
"""
from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import math
import os
import random
import sys
from typing import Any, Callable, Iterator

from .errors import ModelDefinitionError
from .predict import TASKS, RecordFile

#: Python type -> JSON Schema type of a hyperparameter.
PARAM_TYPES: dict[type, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}
PARAM_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
MAX_PARAMS = 32
MAX_OUTPUT_FILES = 1000


class Param:
    """A hyperparameter of a training function: its type (int, float, str or bool), default, bounds (numbers),
    allowed values (`choices`) and a description. `ftr.Param(int, default=5, min=1, max=50)`."""

    def __init__(self, type: type, default: Any, min: float | None = None, max: float | None = None,  # noqa: A002
                 choices: list[Any] | None = None, description: str = "") -> None:
        self.type = type
        self.default = default
        self.min = min
        self.max = max
        self.choices = list(choices) if choices is not None else None
        self.description = description

    def problem(self, name: str) -> str | None:
        """Why the declaration is not valid (None when it is)."""
        if self.type not in PARAM_TYPES:
            return f"param {name!r}: the type must be int, float, str or bool, got {self.type!r}"
        if (self.min is not None or self.max is not None) and self.type not in (int, float):
            return f"param {name!r}: min and max are for int and float params"
        for bound, value in (("min", self.min), ("max", self.max)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                return f"param {name!r}: {bound} must be a finite number"
        if self.min is not None and self.max is not None and self.min > self.max:
            return f"param {name!r}: min {self.min} is above max {self.max}"
        if self.choices is not None:
            if not self.choices:
                return f"param {name!r}: choices must not be empty"
            for c in self.choices:
                if check_value(self, c) is not None:
                    return f"param {name!r}: the choice {c!r} is not a {self.type.__name__}"
        if not isinstance(self.description, str):
            return f"param {name!r}: description must be a string"
        why = self.check(self.default)
        return None if why is None else f"param {name!r}: the default {self.default!r} {why}"

    def check(self, value: Any) -> str | None:
        """Why `value` is not acceptable for this param (None when it is)."""
        why = check_value(self, value)
        if why is not None:
            return why
        if self.min is not None and value < self.min:
            return f"is below the minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"is above the maximum {self.max}"
        if self.choices is not None and value not in self.choices:
            return f"is not one of {', '.join(repr(c) for c in self.choices)}"
        return None

    def parse(self, text: str) -> Any:
        """A value from the command line (`--param epochs=3`)."""
        if self.type is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(f"{text!r} is not true or false")
        if self.type is int:
            return int(text)
        if self.type is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(f"{text!r} is not a finite number")
            return value
        return text

    def describe(self) -> dict[str, Any]:
        """The param as the metadata records it: a JSON Schema of its value."""
        out: dict[str, Any] = {"type": PARAM_TYPES[self.type], "default": self.default}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.description:
            out["description"] = self.description
        return out


def check_value(param: Param, value: Any) -> str | None:
    if param.type is bool:
        return None if isinstance(value, bool) else f"is a {type(value).__name__}, not a bool"
    if param.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"is a {type(value).__name__}, not an int"
        return None
    if param.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"is not a finite number"
        return None
    return None if isinstance(value, str) else f"is a {type(value).__name__}, not a str"


class Trainer:
    """What @ftr.train records about the function."""

    def __init__(self, fn: Callable[..., Any], task: str | None, params: dict[str, Param], file: str, line: int) -> None:
        self.fn = fn
        self.task = task
        self.params = params
        self.file = file
        self.line = line

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", "train")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"function": self.name, "params": {k: p.describe() for k, p in self.params.items()}}
        if self.task is not None:
            out["task"] = self.task
        return out

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """The declared params with `given` checked and the defaults filled in. Raises ValueError."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            declared = ", ".join(self.params) or "none"
            raise ValueError(f"unknown param {unknown[0]!r} (the training function declares: {declared})")
        out: dict[str, Any] = {}
        for name, param in self.params.items():
            value = given.get(name, param.default)
            if param.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            why = param.check(value)
            if why is not None:
                raise ValueError(f"param {name!r}: {value!r} {why}")
            out[name] = value
        return out


def train(task: str | None = None, params: dict[str, Param] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declares the model's training function: `@ftr.train(task="image-classification", params={...})`.
    `task` (optional) is the dataset task it trains on; `params` maps each hyperparameter's name to an `ftr.Param`.
    The function is called as `fn(data, params, output)` (see this module's docstring)."""
    from .model import _where
    if callable(task):
        raise ModelDefinitionError("@ftr.train needs parentheses: @ftr.train(params={...})", *_where(task))

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        file, line = _where(fn)
        if not callable(fn):
            raise ModelDefinitionError("@ftr.train decorates a function", file, line)
        if task is not None and task not in TASKS:
            raise ModelDefinitionError(f"train task {task!r} is not one of {', '.join(TASKS)}", file, line)
        declared = dict(params or {})
        if len(declared) > MAX_PARAMS:
            raise ModelDefinitionError(f"a training function declares at most {MAX_PARAMS} params", file, line)
        for name, param in declared.items():
            if not isinstance(name, str) or not name or len(name) > 64 or not set(name) <= PARAM_NAME_CHARS or name[0].isdigit():
                raise ModelDefinitionError(f"param name {name!r} must be lower-case letters, digits and '_' "
                                           "(not starting with a digit, at most 64)", file, line)
            if not isinstance(param, Param):
                raise ModelDefinitionError(f"param {name!r} must be an ftr.Param(type, default=...)", file, line)
            why = param.problem(name)
            if why is not None:
                raise ModelDefinitionError(why, file, line)
        fn.__feather_train__ = Trainer(fn, task, declared, file, line)  # type: ignore[attr-defined]
        return fn
    return mark


def trainer_of(fn: Any, file: str, line: int) -> Trainer:
    """The Trainer of a function given to build(train=...); raises ModelDefinitionError at the build call."""
    info = getattr(fn, "__feather_train__", None)
    if not isinstance(info, Trainer):
        raise ModelDefinitionError("train must be a function decorated with @ftr.train(params={...})", file, line)
    return info


# ---- progress -------------------------------------------------------------------------------------------

#: Where ftr.report sends its events: the runtime's stdout writer in a container, stderr lines locally.
_reporter: Callable[[dict[str, Any]], None] | None = None
_last_metrics: dict[str, float] = {}


def report(epoch: int | None = None, epochs: int | None = None, **metrics: float) -> None:
    """Reports training progress and metrics: `ftr.report(epoch=3, epochs=10, loss=0.21, accuracy=0.93)`.
    The server shows them live and charts the metrics; the last value of each is recorded on the new version."""
    for key, value in (("epoch", epoch), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"ftr.report: {key} must be a non-negative int, got {value!r}")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        item = getattr(value, "item", None)
        if callable(item) and type(value).__module__ == "numpy":
            value = item()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"ftr.report: metric {name!r} must be a finite number, got {value!r}")
        clean[name] = float(value)
    event: dict[str, Any] = {"type": "progress", "epoch": epoch, "epochs": epochs, "metrics": clean}
    _last_metrics.update(clean)
    if _reporter is not None:
        _reporter(event)
    else:
        print(describe_progress(event), file=sys.stderr, flush=True)


def describe_progress(event: dict[str, Any]) -> str:
    parts = []
    if event.get("epoch") is not None:
        parts.append(f"epoch {event['epoch']}" + (f"/{event['epochs']}" if event.get("epochs") is not None else ""))
    parts.extend(f"{k} {v:.4g}" for k, v in (event.get("metrics") or {}).items())
    return ", ".join(parts) or "progress"


# ---- the data ---------------------------------------------------------------------------------------------

class _EncodedFile(RecordFile):
    """A record file whose bytes came over the wire as base64, decoded when first used."""

    def __init__(self, name: str, encoded: str, media_type: str) -> None:
        super().__init__(name, media_type=media_type)
        self._encoded = encoded

    @property
    def data(self) -> bytes:
        if self._data is None:
            try:
                self._data = base64.b64decode(self._encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"file {self.name!r}: the data is not base64: {exc}") from None
            self._encoded = ""
        return self._data


class TrainingData:
    """The records a training function learns from, with their labels: `len(data)`, `for record in data`,
    `data[i]`, `data.batches(64, shuffle=True)`. A record is a dict keyed by field name (text as str, numbers
    as int or float, labels as str or number, files and images as `ftr.RecordFile`). `data.fields` lists the
    fields (name, type, role); `data.label` names the label field; `data.classes` lists the classes (or None)."""

    def __init__(self, fields: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
        self.fields = fields
        self._records = records
        labels = [f for f in fields if f.get("role") == "label"]
        self.label: str | None = labels[0]["name"] if labels else None
        self.classes: list[str] | None = labels[0].get("classes") if labels else None

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._records[index]

    def labels(self) -> list[Any]:
        """The label of every record, in order."""
        return [r.get(self.label) for r in self._records] if self.label else []

    def batches(self, size: int, shuffle: bool = False, seed: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Lists of up to `size` records; `shuffle` draws a new order each call (reproducible with `seed`)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"batches: size must be a positive int, got {size!r}")
        order = list(range(len(self._records)))
        if shuffle:
            random.Random(seed).shuffle(order)
        for start in range(0, len(order), size):
            yield [self._records[k] for k in order[start:start + size]]

    def __repr__(self) -> str:
        return f"TrainingData({len(self)} records, fields {[f['name'] for f in self.fields]})"


def _value(kind: str | None, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if kind == "number":
        return float(raw)
    if kind == "integer":
        return int(raw)
    return raw if isinstance(raw, str) else raw


def from_request(fields: Any, records: Any) -> TrainingData:
    """The data of a train request (docs/contracts.md section 3c). Raises ValueError."""
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        raise ValueError("'fields' must be the list of the dataset's fields ({name, type, role})")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("'records' must be a list of objects keyed by field")
    files = {f["name"] for f in fields if f.get("type") in ("file", "image")}
    out = []
    for i, record in enumerate(records):
        values: dict[str, Any] = {}
        for key, value in record.items():
            if key in files and value is not None:
                if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(value.get("data"), str):
                    raise ValueError(f"record {i}, field {key!r}: a file is {{name, media_type, data (base64)}}")
                values[key] = _EncodedFile(value["name"], value["data"], str(value.get("media_type") or ""))
            else:
                values[key] = value
        out.append(values)
    return TrainingData([dict(f) for f in fields], out)


class DatasetError(Exception):
    pass


def read_dataset(directory: str) -> TrainingData:
    """A dataset directory on this machine (docs/datasets.md) as training data: every field, labels included;
    file fields are read from disk when first used."""
    root = os.path.realpath(directory)
    manifest_path = os.path.join(root, "dataset.json")
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{manifest_path}: cannot read the manifest: {exc}") from None
    fields = [{"name": f.get("name"), "type": f.get("type"), "role": f.get("role"),
               **({"classes": f["classes"]} if f.get("classes") else {})}
              for f in manifest.get("fields") or [] if isinstance(f, dict)]
    records_path = os.path.realpath(os.path.join(root, str(manifest.get("records", ""))))
    if not records_path.startswith(root + os.sep):
        raise DatasetError(f"{manifest_path}: records must be a path inside the dataset directory")
    try:
        with open(records_path, encoding="utf-8", newline="") as fh:
            rows = [json.loads(line) for line in fh if line.strip()] if records_path.endswith(".jsonl") else list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{records_path}: {exc}") from None
    records = []
    for n, row in enumerate(rows, start=1):
        values: dict[str, Any] = {}
        for f in fields:
            raw = row.get(f["name"])
            if f["type"] in ("file", "image") and raw not in (None, ""):
                path = os.path.realpath(os.path.join(root, str(raw)))
                if not path.startswith(root + os.sep) or not os.path.isfile(path):
                    raise DatasetError(f"{records_path}: record {n}, field {f['name']!r}: {raw!r} is not a file in the dataset")
                values[f["name"]] = RecordFile(str(raw), path=path)
            else:
                try:
                    values[f["name"]] = _value(f["type"], raw)
                except ValueError as exc:
                    raise DatasetError(f"{records_path}: record {n}, field {f['name']!r}: {exc}") from None
        records.append(values)
    return TrainingData(fields, records)


# ---- running it ---------------------------------------------------------------------------------------------

def output_files(output: str) -> list[dict[str, Any]]:
    """The files a training function wrote (relative path, size, sha256, absolute path), sorted. Raises ValueError
    for a link or a name the server would refuse."""
    root = os.path.realpath(output)
    found = []
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            if os.path.islink(path):
                raise ValueError(f"the training function wrote a link ({os.path.relpath(path, root)}); write regular files")
        for name in files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if not os.path.isfile(path):
                raise ValueError(f"{rel} is not a regular file")
            if any(part in ("", ".", "..") or part.startswith(".") for part in rel.split("/")) or len(rel) > 255:
                raise ValueError(f"{rel!r}: output paths must be relative, at most 255 characters, without hidden parts")
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            found.append({"path": rel, "size": os.path.getsize(path), "sha256": digest.hexdigest(), "file": path})
    if len(found) > MAX_OUTPUT_FILES:
        raise ValueError(f"the training function wrote {len(found)} files; at most {MAX_OUTPUT_FILES} are allowed")
    return sorted(found, key=lambda f: f["path"])


def run_training(trainer: Trainer, data: TrainingData, params: dict[str, Any], output: str,
                 reporter: Callable[[dict[str, Any]], None] | None = None) -> dict[str, float]:
    """Calls the training function; returns the last value of each metric it reported. The model's exceptions propagate."""
    global _reporter
    _last_metrics.clear()
    previous, _reporter = _reporter, reporter
    try:
        trainer.fn(data, dict(params), output)
    finally:
        _reporter = previous
    return dict(_last_metrics)


def parse_params(trainer: Trainer, pairs: list[str]) -> dict[str, Any]:
    """`--param k=v` pairs -> typed values (not yet checked against the bounds). Raises ValueError."""
    given: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param {pair!r}: give it as NAME=VALUE")
        if key not in trainer.params:
            declared = ", ".join(trainer.params) or "none"
            raise ValueError(f"unknown param {key!r} (the training function declares: {declared})")
        try:
            given[key] = trainer.params[key].parse(text)
        except ValueError as exc:
            raise ValueError(f"param {key!r}: {exc}") from None
    return given


def main(model: str, dataset: str, pairs: list[str], output: str, as_json: bool) -> int:
    """`python3 -m feather train MODEL --dataset DIR [--param k=v] [--output DIR]`."""
    import traceback
    from .loader import load
    from .model import run_prepare
    try:
        data = read_dataset(dataset)
        loaded = load(model)
        trainer = loaded.model.trainer
        if trainer is None:
            raise ModelDefinitionError("the model declares no training function: ftr.build(..., train=fn) with @ftr.train(...)",
                                       loaded.model.file, loaded.model.line)
        task = _dataset_task(dataset)
        if trainer.task is not None and task != trainer.task:
            raise DatasetError(f"the model trains for {trainer.task}, the dataset is for {task}")
        params = trainer.resolve(parse_params(trainer, pairs))
    except ModelDefinitionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (DatasetError, ValueError) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    os.makedirs(output, exist_ok=True)
    if os.listdir(output):
        print(f"train: the output folder {output} is not empty; give an empty or new one with --output", file=sys.stderr)
        return 1
    print(f"training {loaded.model.name} on {len(data)} records with " + ", ".join(f"{k}={v!r}" for k, v in params.items()),
          file=sys.stderr)
    events: list[dict[str, Any]] = []

    def show(event: dict[str, Any]) -> None:
        events.append(event)
        print(describe_progress(event), file=sys.stderr, flush=True)
    from .runtime import stdout_to_stderr
    try:
        with stdout_to_stderr():  # the model's prints go to stderr, as in the sandbox: stdout stays for --json
            run_prepare(loaded.model)
            metrics = run_training(trainer, data, params, os.path.abspath(output), show)
        files = output_files(output)
    except Exception:  # the model's fault: show its traceback as the server's log would
        traceback.print_exc()
        return 1
    if not files:
        print("train: the training function wrote no file into its output folder", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"params": params, "metrics": metrics, "progress": events,
                          "files": [{k: f[k] for k in ("path", "size", "sha256")} for f in files]}, indent=2))
        return 0
    for f in files:
        print(f"wrote {os.path.join(output, f['path'])} ({f['size']} bytes)")
    if metrics:
        print("metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return 0


def _dataset_task(directory: str) -> str | None:
    with open(os.path.join(directory, "dataset.json"), encoding="utf-8") as fh:
        return json.load(fh).get("task")

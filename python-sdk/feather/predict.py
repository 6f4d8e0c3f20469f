"""Evaluation: how a model answers a dataset's records (docs/sdk.md, "Evaluation").

    @ftr.predict(task="image-classification", batch_size=64)
    def predict(records: list[dict]) -> list[str]:
        return [classify(r["image"].pil()) for r in records]

    ftr.build(..., predict=predict)

Each record holds only the dataset's input fields: text as str, numbers as float or int, files and images
as a `RecordFile`. The function returns one prediction per record, in order: a class label (str) for the
classification tasks, a number for regression, a str for question answering and text generation.
"""
from __future__ import annotations

import io
import math
import os
import tempfile
from typing import Any, Callable

from ._binary import Blob, guess_media_type, load_image
from .errors import ModelDefinitionError, PayloadError

#: Task name -> what one prediction is ("label": str, "number": int or float, "text": str).
TASKS: dict[str, str] = {
    "image-classification": "label",
    "text-classification": "label",
    "regression": "number",
    "question-answering": "text",
    "text-generation": "text",
}
MAX_BATCH_SIZE = 4096


class RecordFile:
    """A file or image field of a record: its dataset path (`name`), its bytes (`data`), a file object
    (`open()`), a path on disk (`path`, written to a temporary file when the bytes came over the wire) and,
    for images, `pil()` / `array()` (Pillow / numpy)."""

    def __init__(self, name: str, data: bytes | None = None, path: str | None = None, media_type: str = "") -> None:
        self.name = name
        self._data = data
        self._path = path
        self.media_type = media_type or guess_media_type(name)

    @property
    def data(self) -> bytes:
        if self._data is None:
            with open(self._path or "", "rb") as fh:
                self._data = fh.read()
        return self._data

    @property
    def path(self) -> str:
        if self._path is None:
            fd, self._path = tempfile.mkstemp(prefix="feather-record-", suffix=os.path.splitext(self.name)[1])
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.data)
        return self._path

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.data)

    def pil(self) -> Any:
        return load_image(Blob(self.name, self.data, self.media_type), "pil", "record field")

    def array(self) -> Any:
        return load_image(Blob(self.name, self.data, self.media_type), "array", "record field")

    def __repr__(self) -> str:
        return f"RecordFile({self.name!r})"


class Predictor:
    """What @ftr.predict records about the function."""

    def __init__(self, fn: Callable[[list[dict[str, Any]]], list[Any]], task: str, batch_size: int, file: str, line: int) -> None:
        self.fn = fn
        self.task = task
        self.batch_size = batch_size
        self.file = file
        self.line = line

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", "predict")

    def describe(self) -> dict[str, Any]:
        return {"task": self.task, "batch_size": self.batch_size, "function": self.name}


def predict(task: str, batch_size: int = 32) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declares the function that answers a batch of dataset records: `@ftr.predict(task="regression")`.
    `task` is one of the dataset tasks; `batch_size` how many records one call gets (1..4096)."""
    from .model import _where
    if callable(task):
        raise ModelDefinitionError("@ftr.predict needs the task: @ftr.predict(task=\"image-classification\")",
                                   *_where(task))

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        file, line = _where(fn)
        if not callable(fn):
            raise ModelDefinitionError("@ftr.predict decorates a function", file, line)
        if task not in TASKS:
            raise ModelDefinitionError(f"predict task {task!r} is not one of {', '.join(TASKS)}", file, line)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ModelDefinitionError(f"predict batch_size must be an integer from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}",
                                       file, line)
        fn.__feather_predict__ = Predictor(fn, task, batch_size, file, line)  # type: ignore[attr-defined]
        return fn
    return mark


def predictor_of(fn: Any, file: str, line: int) -> Predictor:
    """The Predictor of a function given to build(predict=...); raises ModelDefinitionError at the build call."""
    info = getattr(fn, "__feather_predict__", None)
    if not isinstance(info, Predictor):
        raise ModelDefinitionError("predict must be a function decorated with @ftr.predict(task=...)", file, line)
    return info


def check_prediction(task: str, value: Any, index: int) -> str | None:
    """Why `value` is not a prediction for `task` (None when it is one)."""
    kind = TASKS[task]
    if kind in ("label", "text"):
        return None if isinstance(value, str) else f"prediction {index} is a {type(value).__name__}, the task {task} needs a str"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"prediction {index} is a {type(value).__name__}, the task {task} needs a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"prediction {index} is {value}, not a finite number"
    return None


def coerce(value: Any) -> Any:
    """numpy scalars and strings become plain Python values (a model returning np.int64 labels is fine)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        value = item()
    return value


def run_batches(predictor: Predictor, records: list[dict[str, Any]],
                progress: Callable[[int], None] | None = None) -> list[Any]:
    """Calls the predict function on batches of records; checks the count and type of what it returns."""
    out: list[Any] = []
    for start in range(0, len(records), predictor.batch_size):
        batch = records[start:start + predictor.batch_size]
        returned = predictor.fn(batch)
        if isinstance(returned, (str, bytes, dict)) or not hasattr(returned, "__len__") or not hasattr(returned, "__iter__"):
            raise PayloadError(f"{predictor.name} returned a {type(returned).__name__} for a batch of {len(batch)} "
                               "records; it must return a list with one prediction per record")
        values = [coerce(v) for v in returned]
        if len(values) != len(batch):
            raise PayloadError(f"{predictor.name} returned {len(values)} predictions for a batch of {len(batch)} records "
                               f"(records {start}..{start + len(batch) - 1}); it must return one per record, in order")
        if TASKS[predictor.task] == "label":
            values = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        for k, v in enumerate(values):
            problem = check_prediction(predictor.task, v, start + k)
            if problem:
                raise PayloadError(f"{predictor.name}: {problem}")
        out.extend(values)
        if progress is not None:
            progress(len(out))
    return out

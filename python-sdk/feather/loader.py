"""Imports a model file by path (no `if __name__ == "__main__"` needed) and finds its `build()`."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass

from . import model as _model
from .errors import ModelDefinitionError


@dataclass
class Loaded:
    model: "_model.Model"
    directory: str   # absolute model directory
    entrypoint: str  # path of the model file relative to the directory
    file: str        # absolute path of the model file


def resolve(path: str) -> tuple[str, str]:
    """PATH is a model file or a directory holding model.py -> (directory, entrypoint)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        file = os.path.join(path, "model.py")
        if not os.path.isfile(file):
            raise ModelDefinitionError(f"no model.py in directory {path}", path, 0)
        return path, "model.py"
    if not os.path.isfile(path):
        raise ModelDefinitionError("no such file", path, 0)
    if not path.endswith(".py"):
        raise ModelDefinitionError("a model file must be a .py file", path, 0)
    return os.path.dirname(path), os.path.basename(path)


def load(path: str, entrypoint: str | None = None) -> Loaded:
    """Imports the model (PATH as in `resolve`, or a directory plus `entrypoint`)."""
    if entrypoint is not None:
        directory = os.path.abspath(path)
        if os.path.isabs(entrypoint) or ".." in entrypoint.replace("\\", "/").split("/"):
            raise ModelDefinitionError(f"entrypoint {entrypoint!r} must be a relative path inside the model directory")
        file = os.path.join(directory, entrypoint)
        if not os.path.isfile(file):
            raise ModelDefinitionError(f"entrypoint {entrypoint!r} not found", file, 0)
    else:
        directory, entrypoint = resolve(path)
        file = os.path.join(directory, entrypoint)
    module_name = "feather_model_" + hashlib.sha256(file.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ModelDefinitionError("cannot import the model file", file, 0)
    module = importlib.util.module_from_spec(spec)
    before = len(_model._BUILT)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ModelDefinitionError:
        raise
    except SyntaxError as exc:
        raise ModelDefinitionError(f"syntax error: {exc.msg}", exc.filename or file, exc.lineno or 0) from None
    except Exception as exc:
        line = 0
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == file:
                line = frame.lineno or 0
        raise ModelDefinitionError(f"importing the model raised {type(exc).__name__}: {exc}", file, line) from None
    built = [m for m in _model._BUILT[before:] if m.file == file]
    if not built:
        raise ModelDefinitionError("the model file never calls ftr.build(...)", file, 1)
    if len(built) > 1:
        raise ModelDefinitionError("the model file calls ftr.build(...) more than once", file, built[1].line)
    return Loaded(built[0], directory, entrypoint.replace(os.sep, "/"), file)

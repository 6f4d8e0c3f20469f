"""Feather: declare a (multi-step) model with typed components; publish and run it sandboxed.

    import feather as ftr

    def init():
        return ftr.Text.In(default_text="Ada", title="Your name")

    @ftr.step(title="Greet")
    def greet(name: ftr.Text.In) -> ftr.Text.View:
        return ftr.Text.View(f"Hello, {name.get()[0]}!")

    ftr.build(name="hello", init=init, steps=[greet])
"""
from ._binary import Blob
from .document import Document
from .errors import FeatherError, ModelDefinitionError, PayloadError, PropsError
from .file import File
from .image import Image
from .list import List
from .model import END, Branch, Model, branch, build, bundle, done, prepared, step
from .predict import RecordFile, predict
from .text import Text
from .train import Param, TrainingData, report, train

__version__ = "0.2.0"

__all__ = ["Blob", "Document", "File", "Image", "List", "Text", "Model", "build", "bundle", "prepared", "step", "predict", "RecordFile",
           "train", "Param", "TrainingData", "report",
           "END", "Branch", "branch", "done",
           "FeatherError", "ModelDefinitionError", "PayloadError", "PropsError", "__version__",
           "Client", "Run", "StepHandle", "ApiError", "InvalidInput", "ServerUnreachable", "StepFailed"]

# The HTTP client (and urllib, http.client, email with it) is imported on first use: a model's module and
# `python -m feather inspect` (run by every `feather publish`) never need it (70 ms of a 250 ms inspect).
_CLIENT_NAMES = ("ApiError", "Client", "InvalidInput", "Run", "ServerUnreachable", "StepFailed", "StepHandle")


def __getattr__(name: str):
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'feather' has no attribute '{name}'")

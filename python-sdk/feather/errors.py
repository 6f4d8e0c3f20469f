"""Errors the SDK raises. Each message says what is wrong and where."""
from __future__ import annotations


class FeatherError(Exception):
    """Base class of every error the SDK raises on purpose."""


class PropsError(FeatherError, ValueError):
    """A component was constructed with invalid props (e.g. max_files < min_files)."""


class PayloadError(FeatherError, ValueError):
    """A payload (a client's response, or a step's output) does not fit its component."""


class ModelDefinitionError(FeatherError):
    """The model's declaration is inconsistent; carries the file and line that caused it."""

    def __init__(self, message: str, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.file else self.message

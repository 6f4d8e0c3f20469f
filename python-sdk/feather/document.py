"""Document components: documents shown with a text box or captions."""
from __future__ import annotations

from typing import Any

from . import _binary
from ._binary import BINARY_SCHEMA, Blob
from .component import Component, TextPerItem, expect_list, expect_object
from .file import to_blobs
from .image import captions

DOCS = {"type": "array", "items": BINARY_SCHEMA}


class _WithDocuments(Component):
    _documents: list[Blob]

    def documents(self, format: str = "text") -> list[Any]:
        """The documents: "text" (str, UTF-8), "bytes" or "file" (feather.Blob)."""
        return [_binary.load_image(d, format, f"document {i}") for i, d in enumerate(self._documents)]


class WithTextIn(TextPerItem, _WithDocuments):
    """One text box per document. `documents`: str (plain text), bytes or feather.Blob.
    Value: {"documents"}. Response: {"texts": [one per document]}."""

    component = "Document.WithTextIn"
    items_key, item_word = "documents", "document"
    value_schema = {"type": "object", "required": ["documents"], "additionalProperties": False,
                    "properties": {"documents": DOCS}}

    def __init__(self, documents: list[Any], default_text: str | None = None, max_chars: int = 256,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"default_text": default_text, "max_chars": max_chars})
        self._documents = to_blobs(documents, None, self.component, "document")
        self.default_text, self.max_chars = default_text, max_chars


class View(_WithDocuments):
    """Shows documents with optional captions. Value: {"documents", "texts": [str or null]}."""

    component = "Document.View"
    value_schema = {"type": "object", "required": ["documents", "texts"], "additionalProperties": False,
                    "properties": {"documents": DOCS,
                                   "texts": {"type": "array", "items": {"type": ["string", "null"]}}}}

    def __init__(self, documents: list[Any], output_text: list[str | None] | str | None = None,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self._documents = to_blobs(documents, None, self.component, "document")
        self.output_text = captions(output_text, len(self._documents), self.component, "documents")

    def value(self) -> dict[str, Any]:
        return {"documents": [d.to_payload() for d in self._documents], "texts": list(self.output_text)}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("documents", "texts"), cls.component)
        return {"documents": expect_list(body["documents"], "documents"), "output_text": body["texts"]}

    def get(self) -> list[str | None]:
        return list(self.output_text)


class Document:
    """The Document family: `ftr.Document.WithTextIn`, `ftr.Document.View`."""

    WithTextIn = WithTextIn
    View = View

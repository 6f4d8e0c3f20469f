"""The component contract every Feather component follows.

A component
- describes itself: `component` id, `version`, `props()` (its configuration), and the JSON
  schemas of its value (what it shows) and its response (what a user or API client sends back).
  The class knows the response's shape (`base_response_schema`); an instance knows the exact
  rules (`response_schema()`: the items it offers, how many may be selected, max chars, file
  types...), which travel with it in the metadata (init components) and in step outputs, so the
  server, the portal and the CLI read the rules instead of copying them;
- validates a response precisely (`bind`), naming the file, item or limit that is wrong;
- turns a response into what a step receives (`get()`);
- turns what a step returns into a wire payload (`to_output`) and back (`from_output`).
"""
from __future__ import annotations

import inspect
from typing import Any, ClassVar

from .errors import PayloadError, PropsError

_REGISTRY: dict[str, type["Component"]] = {}


def registry() -> dict[str, type["Component"]]:
    """Every component class by id ("Image.WithSelectMulti")."""
    return dict(_REGISTRY)


def _str_schema() -> dict[str, Any]:
    return {"type": "string"}


class Component:
    component: ClassVar[str] = ""
    version: ClassVar[int] = 1
    interactive: ClassVar[bool] = False
    #: names of constructor arguments that are configuration (props), not data
    config: ClassVar[tuple[str, ...]] = ()
    value_schema: ClassVar[dict[str, Any] | None] = None
    #: the response's shape without this instance's limits (None: takes no response)
    base_response_schema: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.component:
            _REGISTRY[cls.component] = cls

    def __init__(self, title: str | None = None, description: str | None = None) -> None:
        if title is not None and not isinstance(title, str):
            raise PropsError(f"{self.component}: title must be a string")
        if description is not None and not isinstance(description, str):
            raise PropsError(f"{self.component}: description must be a string")
        self.title = title
        self.description = description
        self._response: Any = None
        self._bound = False

    # ---- description -------------------------------------------------------------------
    def props(self) -> dict[str, Any]:
        """The component's configuration as JSON (title, description and its own props)."""
        out: dict[str, Any] = {"title": self.title, "description": self.description}
        for key in self.config:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def value(self) -> Any:
        """The data the component shows, as JSON (None for pure inputs)."""
        return None

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The schemas a class alone can give (where no instance exists: a later step's inputs)."""
        return {"value": cls.value_schema, "response": cls.base_response_schema}

    def response_schema(self) -> dict[str, Any] | None:
        """The exact JSON Schema (draft 2020-12) a response to this instance must satisfy:
        a response `bind()` accepts satisfies it, and one it refuses does not (apart from what
        JSON Schema cannot say, such as a file's decoded size, which the server checks generically
        from `contentEncoding`). None when the component takes no response."""
        return None

    def exact_schema(self) -> dict[str, Any]:
        """`schema()` with this instance's exact response schema."""
        return {"value": self.value_schema, "response": self.response_schema()}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"component": cls.component, "version": cls.version, "interactive": cls.interactive,
                "schema": cls.schema()}

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Validates configuration props alone (used by the constructor and by `inspect`'s
        static scan of constructor calls). Raises PropsError."""

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {k: p.default for k, p in sig.parameters.items()
                if k in cls.config and p.default is not inspect.Parameter.empty}

    # ---- wire ----------------------------------------------------------------------------
    def to_output(self, name: str) -> dict[str, Any]:
        out = {"name": name, "component": self.component, "version": self.version,
               "props": self.props(), "value": self.value()}
        if self.interactive:  # what the next step's response to it must satisfy
            out["schema"] = self.exact_schema()
        return out

    @classmethod
    def from_output(cls, props: dict[str, Any], value: Any) -> "Component":
        """Rebuilds a component from an output it produced earlier (server-kept `previous`)."""
        if not isinstance(props, dict):
            raise PayloadError("props must be an object")
        args = {k: props[k] for k in ("title", "description") if k in props}
        for key in cls.config:
            if key in props:
                args[key] = props[key]
        args.update(cls._data_from_value(value))
        try:
            return cls(**args)
        except PropsError as exc:
            raise PayloadError(str(exc)) from None
        except TypeError as exc:
            raise PayloadError(f"value does not fit {cls.component}: {exc}") from None

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        return {}

    # ---- responses -----------------------------------------------------------------------
    def bind(self, response: Any) -> "Component":
        """Validates a client's response against this component's props and keeps it.
        Raises PayloadError with a message that names the wrong file, item or limit."""
        if not self.interactive:
            raise PayloadError(f"{self.component} takes no response")
        self._response = self._parse_response(response)
        self._bound = True
        return self

    def _parse_response(self, response: Any) -> Any:
        raise NotImplementedError(self.component)  # pragma: no cover - every interactive class overrides

    def _require_bound(self) -> Any:
        if not self._bound:
            raise PayloadError(f"{self.component}: no response was given yet, nothing to get()")
        return self._response

    def __repr__(self) -> str:
        return f"<{self.component} {self.props()!r}>"


# ---- shared validation helpers ---------------------------------------------------------------

def expect_object(response: Any, keys: tuple[str, ...], component: str) -> dict[str, Any]:
    if not isinstance(response, dict):
        raise PayloadError(f"expected an object with {', '.join(repr(k) for k in keys)}, got {type(response).__name__}")
    missing = [k for k in keys if k not in response]
    if missing:
        raise PayloadError(f"missing field {missing[0]!r} (a {component} response is {{{', '.join(repr(k) for k in keys)}}})")
    extra = sorted(set(response) - set(keys))
    if extra:
        raise PayloadError(f"unknown field {extra[0]!r} (a {component} response is {{{', '.join(repr(k) for k in keys)}}})")
    return response


def expect_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{what} must be a list, got {type(value).__name__}")
    return value


def expect_index(value: Any, size: int, what: str) -> int:
    # JSON has one number type: 1.0 is the integer 1 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{what} must be an integer index, got {value!r}")
    if not 0 <= value < size:
        raise PayloadError(f"{what}: index {value} is out of range (0..{size - 1})" if size else
                           f"{what}: index {value} is out of range (there are no items)")
    return value


def check_positive_int(name: str, value: Any, component: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PropsError(f"{component}: {name} must be a positive integer, got {value!r}")


def check_texts(texts: Any, count: int, max_chars: int, what: str) -> list[str]:
    texts = expect_list(texts, "texts")
    if len(texts) != count:
        raise PayloadError(f"expected {count} text(s) ({what}), got {len(texts)}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise PayloadError(f"text {i}: must be a string, got {type(text).__name__}")
        if len(text) > max_chars:
            raise PayloadError(f"text {i}: {len(text)} characters, at most {max_chars} allowed")
    return texts


def text_list(value: Any, what: str, component: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise PropsError(f"{component}: {what} must be a string or a list of strings")


STR_LIST = {"type": "array", "items": {"type": "string"}}


# ---- exact response schemas ------------------------------------------------------------------

def response_object(key: str, schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    """{key: schema}, nothing else: every response is an object with one field. `example` (the
    field's value in a valid response) becomes the schema's `examples`, which the portal's "Use via
    API" snippets and the CLI show."""
    out: dict[str, Any] = {"type": "object", "required": [key], "additionalProperties": False,
                           "properties": {key: schema}}
    if example is not None:
        out["examples"] = [{key: example}]
    return out


def example_selection(size: int, preselected: list[int], min_selected: int, max_selected: int | None) -> list[int]:
    """A valid selection: the preselected items when they fit the limits, else the first ones."""
    if preselected and min_selected <= len(preselected) and (max_selected is None or len(preselected) <= max_selected):
        return list(preselected)
    count = max(min_selected, min(1, size))
    return list(range(count if max_selected is None else min(count, max_selected)))


def example_text(default: str | None, max_chars: int) -> str:
    return (default or "text")[:max_chars]


def index_schema(size: int) -> dict[str, Any]:
    """An index into `size` offered items (none valid when size is 0)."""
    return {"type": "integer", "minimum": 0, "maximum": size - 1}


def indices_schema(size: int, min_selected: int, max_selected: int | None) -> dict[str, Any]:
    """Distinct indices into `size` items, between min_selected and max_selected of them. Without
    max_selected, maxItems is `size` (distinct indices cannot be more), so every array has a bound."""
    out: dict[str, Any] = {"type": "array", "items": index_schema(size), "uniqueItems": True}
    if min_selected:
        out["minItems"] = min_selected
    out["maxItems"] = size if max_selected is None else max_selected
    return out


def texts_schema(count: int, max_chars: int) -> dict[str, Any]:
    """Exactly `count` strings of at most `max_chars` characters (code points)."""
    return {"type": "array", "minItems": count, "maxItems": count,
            "items": {"type": "string", "maxLength": max_chars}}


def per_item_schema(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """One entry per shown item, each with its own schema (prefixItems), no more, no fewer."""
    out: dict[str, Any] = {"type": "array", "minItems": len(schemas), "maxItems": len(schemas), "items": False}
    if schemas:  # prefixItems must not be empty
        out["prefixItems"] = schemas
    return out


class TextPerItem:
    """One text box per shown item (Image.WithTextIn, Document.WithTextIn): mixed in before the
    component's base class, which holds the items in `_<items_key>`. Response: {"texts": [...]}."""

    items_key: str  # "images" or "documents": the value's key and the attribute holding the blobs
    item_word: str  # "image" or "document", for messages
    component: str
    interactive = True
    config = ("default_text", "max_chars")
    base_response_schema = response_object("texts", STR_LIST)
    max_chars: int

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_positive_int("max_chars", config.get("max_chars", 256), cls.component)
        if config.get("default_text") is not None and not isinstance(config.get("default_text"), str):
            raise PropsError(f"{cls.component}: default_text must be a string")

    def _items(self) -> list[Any]:
        return getattr(self, "_" + self.items_key)

    def value(self) -> dict[str, Any]:
        return {self.items_key: [b.to_payload() for b in self._items()]}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        key = cls.items_key
        return {key: expect_list(expect_object(value, (key,), cls.component)[key], key)}

    def response_schema(self) -> dict[str, Any]:
        return response_object("texts", texts_schema(len(self._items()), self.max_chars),
                               [example_text(self.default_text, self.max_chars)] * len(self._items()))

    def _parse_response(self, response: Any) -> list[str]:
        body = expect_object(response, ("texts",), self.component)
        return check_texts(body["texts"], len(self._items()), self.max_chars, f"one per {self.item_word}")

    def get(self) -> list[str]:
        return list(self._require_bound())  # type: ignore[attr-defined]

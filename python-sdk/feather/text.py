"""Text components: Text.In (the user types) and Text.View (the model shows text)."""
from __future__ import annotations

from typing import Any

from .component import (STR_LIST, Component, check_positive_int, check_texts, example_text,
                        expect_object, response_object, text_list, texts_schema)
from .errors import PayloadError, PropsError


class In(Component):
    """`num_inputs` text boxes of at most `max_chars` characters each.
    Response: {"texts": ["...", ...]} (exactly num_inputs strings). The step gets a list of str."""

    component = "Text.In"
    interactive = True
    config = ("default_text", "num_inputs", "max_chars")
    base_response_schema = response_object("texts", STR_LIST)

    def __init__(self, default_text: str = "", num_inputs: int = 1, max_chars: int = 256,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"default_text": default_text, "num_inputs": num_inputs, "max_chars": max_chars})
        self.default_text, self.num_inputs, self.max_chars = default_text, num_inputs, max_chars

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        if not isinstance(config.get("default_text", ""), str):
            raise PropsError("Text.In: default_text must be a string")
        check_positive_int("num_inputs", config.get("num_inputs", 1), cls.component)
        check_positive_int("max_chars", config.get("max_chars", 256), cls.component)
        if len(config.get("default_text", "")) > config.get("max_chars", 256):
            raise PropsError(f"Text.In: default_text is longer than max_chars ({config.get('max_chars')})")

    def response_schema(self) -> dict[str, Any]:
        return response_object("texts", texts_schema(self.num_inputs, self.max_chars),
                               [example_text(self.default_text, self.max_chars)] * self.num_inputs)

    def _parse_response(self, response: Any) -> list[str]:
        body = expect_object(response, ("texts",), self.component)
        return list(check_texts(body["texts"], self.num_inputs, self.max_chars, "num_inputs"))

    def get(self) -> list[str]:
        """The texts the user typed, one per input box."""
        return list(self._require_bound())


class View(Component):
    """Shows one or more texts. Value: {"texts": [...]}. No response."""

    component = "Text.View"
    value_schema = {"type": "object", "required": ["texts"], "additionalProperties": False,
                    "properties": {"texts": STR_LIST}}

    def __init__(self, output_text: str | list[str], title: str | None = None,
                 description: str | None = None) -> None:
        super().__init__(title, description)
        self.output_text = text_list(output_text, "output_text", self.component)

    def value(self) -> dict[str, Any]:
        return {"texts": list(self.output_text)}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("texts",), cls.component)
        if not isinstance(body["texts"], list):
            raise PayloadError("texts must be a list")
        return {"output_text": body["texts"]}

    def get(self) -> list[str]:
        return list(self.output_text)


class Text:
    """The Text family: `ftr.Text.In`, `ftr.Text.View`."""

    In = In
    View = View

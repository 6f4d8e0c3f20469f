"""List components: choose one or several items from a list."""
from __future__ import annotations

from typing import Any

from .component import (STR_LIST, Component, check_positive_int, expect_index, expect_list,
                        expect_object)
from .errors import PayloadError, PropsError

STYLES = ("radio", "dropdown")


def parse_items(items: Any, component: str, what: str = "items",
                allow_flags: bool = True) -> tuple[list[str], list[int]]:
    """items: list of str, or (str, bool) pairs meaning "preselected". Returns (items, preselected indices)."""
    if not isinstance(items, (list, tuple)):
        raise PropsError(f"{component}: {what} must be a list")
    names: list[str] = []
    pre: list[int] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            names.append(item)
        elif allow_flags and isinstance(item, (list, tuple)) and len(item) == 2 \
                and isinstance(item[0], str) and isinstance(item[1], bool):
            names.append(item[0])
            if item[1]:
                pre.append(i)
        else:
            kind = "a string or a (string, bool) pair" if allow_flags else "a string"
            raise PropsError(f"{component}: {what}[{i}] must be {kind}, got {item!r}")
    return names, pre


def check_style(style: Any, component: str) -> None:
    if style not in STYLES:
        raise PropsError(f"{component}: style must be one of {', '.join(STYLES)}, got {style!r}")


def check_max_selected(value: Any, component: str) -> None:
    check_positive_int("max_selected", value, component, allow_none=True)


def parse_multi(selected: Any, size: int, max_selected: int | None, what: str) -> list[int]:
    selected = expect_list(selected, what)
    seen: set[int] = set()
    for j, index in enumerate(selected):
        expect_index(index, size, f"{what}[{j}]")
        if index in seen:
            raise PayloadError(f"{what}: index {index} selected twice")
        seen.add(index)
    if max_selected is not None and len(selected) > max_selected:
        raise PayloadError(f"{what}: {len(selected)} items selected, at most {max_selected} allowed")
    return list(selected)


class SelectOne(Component):
    """Pick exactly one of `items`. Value: {"items": [...]}. Response: {"selected": index}.
    The step gets the item (`get()`) or its index (`get(return_index=True)`)."""

    component = "List.SelectOne"
    interactive = True
    config = ("style",)
    value_schema = {"type": "object", "required": ["items"], "additionalProperties": False,
                    "properties": {"items": STR_LIST}}
    response_schema = {"type": "object", "required": ["selected"], "additionalProperties": False,
                       "properties": {"selected": {"type": "integer", "minimum": 0}}}

    def __init__(self, items: list[str], style: str = "radio", title: str | None = None,
                 description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"style": style})
        self.items, _ = parse_items(items, self.component, allow_flags=False)
        if not self.items:
            raise PropsError(f"{self.component}: items must not be empty")
        self.style = style

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_style(config.get("style", "radio"), cls.component)

    def value(self) -> dict[str, Any]:
        return {"items": list(self.items)}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        return {"items": expect_object(value, ("items",), cls.component)["items"]}

    def _parse_response(self, response: Any) -> int:
        body = expect_object(response, ("selected",), self.component)
        return expect_index(body["selected"], len(self.items), "selected")

    def get(self, return_index: bool = False) -> str | int:
        index = self._require_bound()
        return index if return_index else self.items[index]


class SelectMulti(Component):
    """Pick any number (at most `max_selected`) of `items`; `(item, True)` preselects an item.
    Value: {"items": [...], "preselected": [indices]}. Response: {"selected": [indices]}."""

    component = "List.SelectMulti"
    interactive = True
    config = ("max_selected",)
    value_schema = {"type": "object", "required": ["items", "preselected"], "additionalProperties": False,
                    "properties": {"items": STR_LIST,
                                   "preselected": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}
    response_schema = {"type": "object", "required": ["selected"], "additionalProperties": False,
                       "properties": {"selected": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}

    def __init__(self, items: list[str] | list[tuple[str, bool]], max_selected: int | None = None,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"max_selected": max_selected})
        self.items, self.preselected = parse_items(items, self.component)
        self.max_selected = max_selected

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_max_selected(config.get("max_selected"), cls.component)

    def value(self) -> dict[str, Any]:
        return {"items": list(self.items), "preselected": list(self.preselected)}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("items", "preselected"), cls.component)
        items = expect_list(body["items"], "items")
        pre = set(expect_list(body["preselected"], "preselected"))
        return {"items": [(item, i in pre) if isinstance(item, str) else item for i, item in enumerate(items)]}

    def _parse_response(self, response: Any) -> list[int]:
        body = expect_object(response, ("selected",), self.component)
        return parse_multi(body["selected"], len(self.items), self.max_selected, "selected")

    def get(self, return_index: bool = False, return_all: bool = False) -> list[Any]:
        """Selected items (or indices); return_all=True gives every (item, selected) pair."""
        chosen = self._require_bound()
        if return_all:
            return [(item, i in chosen) for i, item in enumerate(self.items)]
        return list(chosen) if return_index else [self.items[i] for i in chosen]


class List:
    """The List family: `ftr.List.SelectOne`, `ftr.List.SelectMulti`."""

    SelectOne = SelectOne
    SelectMulti = SelectMulti

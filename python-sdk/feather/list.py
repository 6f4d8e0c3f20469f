"""List components: choose one or several items from a list."""
from __future__ import annotations

from typing import Any

from .component import (STR_LIST, Component, check_positive_int, example_selection, expect_index,
                        expect_list, expect_object, index_schema, indices_schema, response_object)
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


def check_selection_limits(config: dict[str, Any], component: str) -> None:
    """max_selected: a positive integer or None (no limit); min_selected: a non-negative integer
    (default 0: selecting nothing is a valid answer) not above max_selected."""
    max_selected, min_selected = config.get("max_selected"), config.get("min_selected", 0)
    check_positive_int("max_selected", max_selected, component, allow_none=True)
    if isinstance(min_selected, bool) or not isinstance(min_selected, int) or min_selected < 0:
        raise PropsError(f"{component}: min_selected must be a non-negative integer, got {min_selected!r}")
    if max_selected is not None and min_selected > max_selected:
        raise PropsError(f"{component}: min_selected ({min_selected}) > max_selected ({max_selected})")


def check_min_offered(min_selected: int, size: int, component: str, what: str) -> None:
    if min_selected > size:
        raise PropsError(f"{component}: min_selected is {min_selected} but {what} has only {size} item(s)")


def parse_multi(selected: Any, size: int, max_selected: int | None, what: str,
                min_selected: int = 0) -> list[int]:
    selected = expect_list(selected, what)
    seen: set[int] = set()
    for j, index in enumerate(selected):
        expect_index(index, size, f"{what}[{j}]")
        if index in seen:
            raise PayloadError(f"{what}: index {index} selected twice")
        seen.add(index)
    if max_selected is not None and len(selected) > max_selected:
        raise PayloadError(f"{what}: {len(selected)} items selected, at most {max_selected} allowed")
    if len(selected) < min_selected:
        raise PayloadError(f"{what}: {len(selected)} items selected, at least {min_selected} required")
    return [int(i) for i in selected]


class SelectOne(Component):
    """Pick exactly one of `items`. Value: {"items": [...]}. Response: {"selected": index}.
    The step gets the item (`get()`) or its index (`get(return_index=True)`)."""

    component = "List.SelectOne"
    interactive = True
    config = ("style",)
    value_schema = {"type": "object", "required": ["items"], "additionalProperties": False,
                    "properties": {"items": STR_LIST}}
    base_response_schema = response_object("selected", {"type": "integer", "minimum": 0})

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

    def response_schema(self) -> dict[str, Any]:
        return response_object("selected", index_schema(len(self.items)), 0)

    def _parse_response(self, response: Any) -> int:
        body = expect_object(response, ("selected",), self.component)
        return expect_index(body["selected"], len(self.items), "selected")

    def get(self, return_index: bool = False) -> str | int:
        index = self._require_bound()
        return index if return_index else self.items[index]


class SelectMulti(Component):
    """Pick at least `min_selected` (default 0) and at most `max_selected` (default: no limit) of
    `items`; `(item, True)` preselects an item.
    Value: {"items": [...], "preselected": [indices]}. Response: {"selected": [distinct indices]}."""

    component = "List.SelectMulti"
    interactive = True
    config = ("max_selected", "min_selected")
    value_schema = {"type": "object", "required": ["items", "preselected"], "additionalProperties": False,
                    "properties": {"items": STR_LIST,
                                   "preselected": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}
    base_response_schema = response_object("selected", {"type": "array", "items": {"type": "integer", "minimum": 0}})

    def __init__(self, items: list[str] | list[tuple[str, bool]], max_selected: int | None = None,
                 min_selected: int = 0, title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"max_selected": max_selected, "min_selected": min_selected})
        self.items, self.preselected = parse_items(items, self.component)
        check_min_offered(min_selected, len(self.items), self.component, "items")
        self.max_selected, self.min_selected = max_selected, min_selected

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_selection_limits(config, cls.component)

    def response_schema(self) -> dict[str, Any]:
        return response_object("selected", indices_schema(len(self.items), self.min_selected, self.max_selected),
                               example_selection(len(self.items), self.preselected, self.min_selected, self.max_selected))

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
        return parse_multi(body["selected"], len(self.items), self.max_selected, "selected", self.min_selected)

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

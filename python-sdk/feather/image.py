"""Image components: images shown with a selection, a text box, or captions."""
from __future__ import annotations

from typing import Any

from . import _binary
from ._binary import BINARY_SCHEMA, Blob
from .component import (STR_LIST, Component, TextPerItem, example_selection, expect_index, expect_list,
                        expect_object, index_schema, indices_schema, per_item_schema,
                        response_object)
from .errors import PayloadError, PropsError
from .list import (check_min_offered, check_selection_limits, check_style, parse_items,
                   parse_multi)

IMAGES = {"type": "array", "items": BINARY_SCHEMA}
LISTS = {"type": "array", "items": STR_LIST}
INDEX_LISTS = {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}}


def to_images(images: Any, component: str) -> list[Blob]:
    if not isinstance(images, (list, tuple)):
        raise PropsError(f"{component}: images must be a list")
    try:
        return [_binary.encode_image(img, f"image {i}", f"image-{i}") for i, img in enumerate(images)]
    except PayloadError as exc:
        raise PropsError(f"{component}: {exc}") from None


class _WithImages(Component):
    def images(self, format: str = "images") -> list[Any]:
        """The images, decoded as for File.Upload.get(format=...)."""
        return [_binary.load_image(b, format, f"image {i}") for i, b in enumerate(self._images)]


def _per_image_lists(lists: Any, count: int, component: str, allow_flags: bool) -> tuple[list[list[str]], list[list[int]]]:
    if not isinstance(lists, (list, tuple)):
        raise PropsError(f"{component}: lists must be a list with one list of items per image")
    if len(lists) != count:
        raise PropsError(f"{component}: {len(lists)} lists for {count} images (one list per image)")
    items, pre = [], []
    for i, sub in enumerate(lists):
        names, flags = parse_items(sub, component, f"lists[{i}]", allow_flags)
        items.append(names)
        pre.append(flags)
    return items, pre


class WithSelectOne(_WithImages):
    """Per image, pick exactly one item of its list. Value: {"images", "lists"}.
    Response: {"selected": [one index per image]}. `get()` gives the chosen item per image."""

    component = "Image.WithSelectOne"
    interactive = True
    config = ("style",)
    value_schema = {"type": "object", "required": ["images", "lists"], "additionalProperties": False,
                    "properties": {"images": IMAGES, "lists": LISTS}}
    base_response_schema = response_object("selected", {"type": "array", "items": {"type": "integer", "minimum": 0}})

    def __init__(self, images: list[Any], lists: list[list[str]], style: str = "radio",
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"style": style})
        self._images = to_images(images, self.component)
        self.lists, _ = _per_image_lists(lists, len(self._images), self.component, allow_flags=False)
        for i, sub in enumerate(self.lists):
            if not sub:
                raise PropsError(f"{self.component}: lists[{i}] is empty; image {i} needs at least one item")
        self.style = style

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_style(config.get("style", "radio"), cls.component)

    def value(self) -> dict[str, Any]:
        return {"images": [b.to_payload() for b in self._images], "lists": [list(s) for s in self.lists]}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("images", "lists"), cls.component)
        return {"images": expect_list(body["images"], "images"), "lists": body["lists"]}

    def response_schema(self) -> dict[str, Any]:
        return response_object("selected", per_item_schema([index_schema(len(sub)) for sub in self.lists]),
                               [0] * len(self.lists))

    def _parse_response(self, response: Any) -> list[int]:
        body = expect_object(response, ("selected",), self.component)
        selected = expect_list(body["selected"], "selected")
        if len(selected) != len(self._images):
            raise PayloadError(f"selected: {len(selected)} selections for {len(self._images)} images (one per image)")
        return [expect_index(s, len(self.lists[i]), f"image {i}") for i, s in enumerate(selected)]

    def get(self, return_index: bool = False) -> list[Any]:
        chosen = self._require_bound()
        return list(chosen) if return_index else [self.lists[i][s] for i, s in enumerate(chosen)]


class WithSelectMulti(_WithImages):
    """Per image, pick at least `min_selected` (default 0) and at most `max_selected` (default: no
    limit) of its items; `(item, True)` preselects.
    Value: {"images", "lists", "preselected"}. Response: {"selected": [[indices] per image]}.
    `get()` gives the chosen items per image (`return_index`, `return_all` as in List.SelectMulti)."""

    component = "Image.WithSelectMulti"
    interactive = True
    config = ("max_selected", "min_selected")
    value_schema = {"type": "object", "required": ["images", "lists", "preselected"], "additionalProperties": False,
                    "properties": {"images": IMAGES, "lists": LISTS, "preselected": INDEX_LISTS}}
    base_response_schema = response_object("selected", INDEX_LISTS)

    def __init__(self, images: list[Any], lists: list[list[Any]], max_selected: int | None = None,
                 min_selected: int = 0, title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"max_selected": max_selected, "min_selected": min_selected})
        self._images = to_images(images, self.component)
        self.lists, self.preselected = _per_image_lists(lists, len(self._images), self.component, allow_flags=True)
        for i, sub in enumerate(self.lists):
            check_min_offered(min_selected, len(sub), self.component, f"lists[{i}]")
        self.max_selected, self.min_selected = max_selected, min_selected

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        check_selection_limits(config, cls.component)

    def response_schema(self) -> dict[str, Any]:
        return response_object("selected", per_item_schema(
            [indices_schema(len(sub), self.min_selected, self.max_selected) for sub in self.lists]),
            [example_selection(len(sub), pre, self.min_selected, self.max_selected)
             for sub, pre in zip(self.lists, self.preselected)])

    def value(self) -> dict[str, Any]:
        return {"images": [b.to_payload() for b in self._images], "lists": [list(s) for s in self.lists],
                "preselected": [list(p) for p in self.preselected]}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("images", "lists", "preselected"), cls.component)
        lists = expect_list(body["lists"], "lists")
        pre = expect_list(body["preselected"], "preselected")
        if len(pre) != len(lists):
            raise PayloadError("preselected must have one list per image")
        merged = []
        for sub, flags in zip(lists, pre):
            sub = expect_list(sub, "lists[i]")
            flags = set(expect_list(flags, "preselected[i]"))
            merged.append([(item, j in flags) if isinstance(item, str) else item for j, item in enumerate(sub)])
        return {"images": expect_list(body["images"], "images"), "lists": merged}

    def _parse_response(self, response: Any) -> list[list[int]]:
        body = expect_object(response, ("selected",), self.component)
        selected = expect_list(body["selected"], "selected")
        if len(selected) != len(self._images):
            raise PayloadError(f"selected: {len(selected)} selections for {len(self._images)} images (one list per image)")
        return [parse_multi(s, len(self.lists[i]), self.max_selected, f"image {i}", self.min_selected)
                for i, s in enumerate(selected)]

    def get(self, return_index: bool = False, return_all: bool = False) -> list[list[Any]]:
        chosen = self._require_bound()
        if return_all:
            return [[(item, j in chosen[i]) for j, item in enumerate(sub)] for i, sub in enumerate(self.lists)]
        return [list(c) if return_index else [self.lists[i][j] for j in c] for i, c in enumerate(chosen)]


class WithTextIn(TextPerItem, _WithImages):
    """One text box per image (at most `max_chars`). Value: {"images"}. Response: {"texts": [one per image]}."""

    component = "Image.WithTextIn"
    items_key, item_word = "images", "image"
    value_schema = {"type": "object", "required": ["images"], "additionalProperties": False,
                    "properties": {"images": IMAGES}}

    def __init__(self, images: list[Any], default_text: str | None = None, max_chars: int = 256,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"default_text": default_text, "max_chars": max_chars})
        self._images = to_images(images, self.component)
        self.default_text, self.max_chars = default_text, max_chars


class View(_WithImages):
    """Shows images with optional captions (`output_text`: one str per image, or None).
    Value: {"images", "texts": [str or null]}. No response."""

    component = "Image.View"
    value_schema = {"type": "object", "required": ["images", "texts"], "additionalProperties": False,
                    "properties": {"images": IMAGES,
                                   "texts": {"type": "array", "items": {"type": ["string", "null"]}}}}

    def __init__(self, images: list[Any], output_text: list[str | None] | str | None = None,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self._images = to_images(images, self.component)
        self.output_text = captions(output_text, len(self._images), self.component, "images")

    def value(self) -> dict[str, Any]:
        return {"images": [b.to_payload() for b in self._images], "texts": list(self.output_text)}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        body = expect_object(value, ("images", "texts"), cls.component)
        return {"images": expect_list(body["images"], "images"), "output_text": body["texts"]}

    def get(self) -> list[str | None]:
        return list(self.output_text)


def captions(output_text: Any, count: int, component: str, what: str) -> list[str | None]:
    if output_text is None:
        return [None] * count
    if isinstance(output_text, str):
        output_text = [output_text]
    if not isinstance(output_text, (list, tuple)) or not all(t is None or isinstance(t, str) for t in output_text):
        raise PropsError(f"{component}: output_text must be a string, a list of strings, or None")
    if len(output_text) != count:
        raise PropsError(f"{component}: {len(output_text)} output_text entries for {count} {what}")
    return list(output_text)


class Image:
    """The Image family: `ftr.Image.WithSelectOne`, `.WithSelectMulti`, `.WithTextIn`, `.View`."""

    WithSelectOne = WithSelectOne
    WithSelectMulti = WithSelectMulti
    WithTextIn = WithTextIn
    View = View

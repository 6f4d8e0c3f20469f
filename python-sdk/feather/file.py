"""File components: File.Upload (the user sends files) and File.Download (the model offers files)."""
from __future__ import annotations

import re
from typing import Any

from . import _binary
from ._binary import BINARY_SCHEMA, KNOWN_TYPES, Blob
from .component import Component, expect_list, expect_object, response_object
from .errors import PayloadError, PropsError

FILES_SCHEMA = response_object("files", {"type": "array", "items": BINARY_SCHEMA})

#: Strict standard base64, as `base64.b64decode(validate=True)` takes it. `(?![\s\S])` is the
#: end of the text in every regex dialect (`$` also matches before a final newline in some).
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?![\\s\\S])"


#: What `File.Upload(types=...)` takes: a file extension, a media type, a media type pattern, or "*".
EXTENSION_RE = re.compile(r"^\.[a-z0-9][a-z0-9_+-]{0,31}$")
MEDIA_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")


def _caseless(text: str) -> str:
    """`text` as an ECMA-262 regex that matches it in any case (no `i` flag in JSON Schema)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else
                   ("\\" + c if c in "^$\\.*+?()[]{}|/" else c) for c in text)


def extension_pattern(types: list[str]) -> str:
    """A regex (ECMA-262, no flags) for a file name whose extension, as `_binary.file_ext` takes
    it (from the last dot that is not the first character, any case), is one of `types`."""
    return "^[\\s\\S]+\\.(?:" + "|".join(_caseless(t[1:]) for t in types) + ")(?![\\s\\S])"


def media_type_pattern(patterns: list[str]) -> str:
    """A regex (ECMA-262, no flags) for a media type (any case, parameters allowed after ';') that
    is one of `patterns` ("video/mp4") or falls under one ("audio/*")."""
    alternatives = [_caseless(p[:-1]) + "[^/;\\s]+" if p.endswith("/*") else _caseless(p) for p in patterns]
    return "^(?:" + "|".join(alternatives) + ")(?:\\s*;[\\s\\S]*)?(?![\\s\\S])"


def media_type_matches(media_type: str, pattern: str) -> bool:
    """True when `media_type` (parameters ignored, any case) is `pattern` or falls under "type/*"."""
    base = media_type.split(";", 1)[0].strip().lower()
    if pattern.endswith("/*"):
        return base.startswith(pattern[:-1]) and len(base) > len(pattern) - 1 and "/" not in base[len(pattern) - 1:]
    return base == pattern


def split_types(types: list[str]) -> tuple[list[str], list[str], bool]:
    """(extensions, media type patterns, any) of a checked, lower-cased `types` list."""
    return ([t for t in types if t.startswith(".")], [t for t in types if "/" in t], "*" in types)


def _example_media_type(pattern: str) -> str:
    """A media type `pattern` accepts, for examples: the pattern itself, or a known one under "type/*"."""
    if not pattern.endswith("/*"):
        return pattern
    known = sorted(m for m in set(KNOWN_TYPES.values()) if m.startswith(pattern[:-1]))
    return known[0] if known else pattern[:-1] + "x-example"


def upload_file_schema(types: list[str]) -> dict[str, Any]:
    """One uploaded file: a name with an accepted extension or a media type an accepted pattern
    covers (either is enough), base64 data; "*" accepts any file. The name's `examples` are one
    per accepted extension (`example.pt`, ...) and the media type's `examples` the accepted media
    type patterns (`audio/*`): readers (the portal's `accept` attribute) take what is accepted from
    them. `contentEncoding` marks the data for the server's size limit (FEATHER_MAX_FILE_BYTES)."""
    extensions, media, any_type = split_types(types)
    name: dict[str, Any] = {"type": "string", "minLength": 1}
    media_type: dict[str, Any] = {"type": "string"}
    schema: dict[str, Any] = {"type": "object", "required": ["name", "media_type", "data"], "additionalProperties": False,
                              "properties": {
                                  "name": name, "media_type": media_type,
                                  "data": {"type": "string", "contentEncoding": "base64", "pattern": BASE64_PATTERN,
                                           "description": "the file's bytes in standard base64"}}}
    if any_type:
        schema["description"] = "any file"
        return schema
    if extensions:
        name["examples"] = [f"example{t}" for t in extensions]
        name["description"] = "a file name ending in " + " or ".join(extensions)
    if media:
        media_type["examples"] = list(media)
        media_type["description"] = "a media type " + " or ".join(media)
    if not media:
        name["pattern"] = extension_pattern(extensions)  # which needs a name of two characters at least
        del name["minLength"]
    elif not extensions:
        media_type["pattern"] = media_type_pattern(media)
    else:  # either is enough
        schema["anyOf"] = [{"properties": {"name": {"pattern": extension_pattern(extensions)}}},
                           {"properties": {"media_type": {"pattern": media_type_pattern(media)}}}]
    return schema


class Upload(Component):
    """Between `min_files` and `max_files` files of the `types` the model names: file extensions
    (".pt", ".onnx", ".jpg"), media types ("video/mp4"), media type patterns ("audio/*") or "*"
    (any file). A file is accepted when its extension or its media type is named.
    Response: {"files": [{"name", "media_type", "data"}]}. The step gets `get(format=...)`:
    "file" (default: feather.Blob with name, media_type, data, path and open()), "path" (the file's path on
    disk: large files are never loaded), "bytes", "text" (str),
    "pil" (PIL images), "array" (numpy arrays, RGB) or "images" (arrays if numpy and Pillow are
    installed, else PIL images, else bytes)."""

    component = "File.Upload"
    interactive = True
    config = ("types", "min_files", "max_files")
    base_response_schema = FILES_SCHEMA

    def __init__(self, types: list[str], min_files: int = 1, max_files: int = 5,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.check_config({"types": types, "min_files": min_files, "max_files": max_files})
        self.types = [t.lower() for t in types]
        self.min_files, self.max_files = min_files, max_files

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        types = config.get("types")
        if not isinstance(types, (list, tuple)) or not types:
            raise PropsError("File.Upload: types must be a non-empty list such as ['.pt', '.onnx'], ['audio/*'] or ['*']")
        for t in types:
            if not isinstance(t, str) or not (t == "*" or EXTENSION_RE.match(t.lower()) or MEDIA_TYPE_RE.match(t.lower())):
                raise PropsError(f"File.Upload: file type {t!r} is not a file extension ('.pt'), a media type ('video/mp4'), "
                                 "a media type pattern ('audio/*') or '*' (any file)")
        lo, hi = config.get("min_files", 1), config.get("max_files", 5)
        for name, v in (("min_files", lo), ("max_files", hi)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise PropsError(f"File.Upload: {name} must be a non-negative integer, got {v!r}")
        if hi < 1:
            raise PropsError(f"File.Upload: max_files must be at least 1, got {hi}")
        if hi < lo:
            raise PropsError(f"File.Upload: max_files ({hi}) < min_files ({lo})")

    def response_schema(self) -> dict[str, Any]:
        first = self.types[0]
        if first.startswith("."):
            ext, media = first, KNOWN_TYPES.get(first, "application/octet-stream")
        elif first == "*":
            ext, media = ".bin", "application/octet-stream"
        else:
            ext, media = ".bin", _example_media_type(first)
        example = [{"name": f"example{ext}" if i == 0 else f"example-{i + 1}{ext}", "media_type": media,
                    "data": ""} for i in range(max(1, self.min_files))]
        return response_object("files", {"type": "array", "minItems": self.min_files, "maxItems": self.max_files,
                                         "items": upload_file_schema(self.types)}, example)

    def _parse_response(self, response: Any) -> list[Blob]:
        body = expect_object(response, ("files",), self.component)
        files = expect_list(body["files"], "files")
        if not self.min_files <= len(files) <= self.max_files:
            raise PayloadError(f"{len(files)} file(s) given, expected {self.min_files} to {self.max_files}")
        out = []
        for i, payload in enumerate(files):
            blob = _binary.decode(payload, f"file {i}")
            if not self.accepts(blob.name, payload["media_type"]):  # as sent: the schema sees no guessed type
                ext = _binary.file_ext(blob.name)
                raise PayloadError(f"file {i} ({blob.name}): type {ext or payload['media_type'] or '(none)'} not accepted, "
                                   f"expected one of {', '.join(self.types)}")
            out.append(blob)
        return out

    def accepts(self, name: str, media_type: str) -> bool:
        """True when a file of this name and media type is one of `types` (as the response schema says)."""
        extensions, media, any_type = split_types(self.types)
        return any_type or _binary.file_ext(name) in extensions or any(media_type_matches(media_type, p) for p in media)

    def get(self, format: str = "file") -> list[Any]:
        files = self._require_bound()
        return [_binary.load_image(f, format, f"file {i}") for i, f in enumerate(files)]


def to_blobs(files: Any, names: list[str] | None, component: str, what: str) -> list[Blob]:
    """Turns str (text), bytes, Blob or payload dicts into Blobs named by `names` when given."""
    if not isinstance(files, (list, tuple)):
        files = [files]
    if names is not None and len(names) != len(files):
        raise PropsError(f"{component}: {len(names)} output_filenames for {len(files)} {what}")
    out = []
    for i, item in enumerate(files):
        name = names[i] if names is not None else None
        if isinstance(item, Blob):
            blob = item if name is None else Blob(name=name, data=item._data, path=item.path)
        elif isinstance(item, dict):
            try:
                blob = _binary.decode(item, f"{what} {i}")
            except PayloadError as exc:
                raise PropsError(f"{component}: {exc}") from None
        elif isinstance(item, str):
            blob = Blob(name=name or f"{what}-{i}.txt", data=item.encode("utf-8"), media_type="text/plain")
        elif isinstance(item, (bytes, bytearray)):
            blob = Blob(name=name or f"{what}-{i}.bin", data=bytes(item))
        else:
            raise PropsError(f"{component}: {what} {i} must be str, bytes or feather.Blob, got {type(item).__name__}")
        out.append(blob)
    return out


class Download(Component):
    """Offers files for download. `files`: str (saved as text), bytes or feather.Blob;
    `output_filenames` names them. Value: {"files": [{"name", "media_type", "data"}]}. No response."""

    component = "File.Download"
    value_schema = FILES_SCHEMA

    def __init__(self, files: Any, output_filenames: list[str] | None = None,
                 title: str | None = None, description: str | None = None) -> None:
        super().__init__(title, description)
        self.files = to_blobs(files, output_filenames, self.component, "file")

    def value(self) -> dict[str, Any]:
        return {"files": [f.to_payload() for f in self.files]}

    @classmethod
    def _data_from_value(cls, value: Any) -> dict[str, Any]:
        return {"files": expect_list(expect_object(value, ("files",), cls.component)["files"], "files")}

    def get(self, format: str = "file") -> list[Any]:
        return [_binary.load_image(f, format, f"file {i}") for i, f in enumerate(self.files)]


class File:
    """The File family: `ftr.File.Upload`, `ftr.File.Download`."""

    Upload = Upload
    Download = Download

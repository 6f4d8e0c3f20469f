"""The one binary encoding used everywhere: {"name", "media_type", "data": standard base64}."""
from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import os
import shutil
from typing import Any, BinaryIO

from .errors import PayloadError

#: File types a File.Upload may accept, by extension.
KNOWN_TYPES: dict[str, str] = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".bmp": "image/bmp", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv", ".tsv": "text/tab-separated-values",
    ".json": "application/json", ".jsonl": "application/jsonl", ".xml": "application/xml",
    ".html": "text/html", ".pdf": "application/pdf", ".npy": "application/octet-stream",
    ".npz": "application/octet-stream", ".wav": "audio/wav", ".mp3": "audio/mpeg",
    ".zip": "application/zip", ".bin": "application/octet-stream",
}
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"]

BINARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "media_type", "data"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "media_type": {"type": "string", "minLength": 1},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
}


class Blob:
    """A named blob: what a step gets for an uploaded file, and what it may return as a file.

    Either bytes in memory (`data`) or a file on disk (`path`, for example an input the runner put in the step's
    file area): a file's bytes are read only when `data` is asked for, so a large input can be streamed with
    `open()` or handed to a library by `path` without loading it."""

    __slots__ = ("name", "media_type", "_data", "path")

    def __init__(self, name: str, data: bytes | None = None, media_type: str = "", path: str | None = None) -> None:
        if data is None and path is None:
            data = b""
        self.name = name
        self._data = bytes(data) if data is not None else None
        self.path = path
        self.media_type = media_type or guess_media_type(name)

    @property
    def data(self) -> bytes:
        if self._data is not None:
            return self._data
        with open(self.path, "rb") as fh:  # type: ignore[arg-type]
            return fh.read()

    @property
    def size(self) -> int:
        return len(self._data) if self._data is not None else os.path.getsize(self.path)  # type: ignore[arg-type]

    def open(self) -> BinaryIO:
        """The bytes as a binary file object (the file itself when the blob is on disk)."""
        return io.BytesIO(self._data) if self._data is not None else open(self.path, "rb")  # type: ignore[arg-type]

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and (self.name, self.media_type, self.data) == (other.name, other.media_type, other.data)

    def __hash__(self) -> int:
        return hash((self.name, self.media_type))

    def __repr__(self) -> str:
        where = f"path={self.path!r}" if self._data is None else f"{len(self._data)} bytes"
        return f"Blob(name={self.name!r}, media_type={self.media_type!r}, {where})"

    def to_payload(self) -> dict[str, Any]:
        """The blob as JSON: a file written to the step's file area when the runtime set one (protocol 2), else
        inline standard base64."""
        if _OUTPUT_AREA is not None:
            return _write_output(self)
        return {"name": self.name, "media_type": self.media_type,
                "data": base64.b64encode(self.data).decode("ascii")}


# The step's file area (docs/contracts.md section 3, "Files"), set by the runtime for one request: binary payloads
# {"path": "in/..."} are read from it, and blobs a step returns are written to its out/ folder.
_FILE_AREA: str | None = None
_OUTPUT_AREA: str | None = None
_written = 0


def set_file_area(directory: str | None) -> None:
    """Reads `path` payloads under `directory` and writes returned blobs to `directory`/out (None: inline base64)."""
    global _FILE_AREA, _OUTPUT_AREA, _written
    _FILE_AREA = os.path.realpath(directory) if directory else None
    _OUTPUT_AREA = os.path.join(_FILE_AREA, "out") if _FILE_AREA else None
    _written = 0


def _write_output(blob: Blob) -> dict[str, Any]:
    global _written
    assert _OUTPUT_AREA is not None
    _written += 1
    relative = f"out/{_written}"
    target = os.path.join(_OUTPUT_AREA, str(_written))
    os.makedirs(_OUTPUT_AREA, exist_ok=True)
    if blob._data is not None:
        with open(target, "wb") as fh:
            fh.write(blob._data)
    else:
        try:
            # a file of the same file area (an input given back): a hard link, no copy
            os.link(blob.path, target)  # type: ignore[arg-type]
        except OSError:
            shutil.copyfile(blob.path, target)  # type: ignore[arg-type]  # streamed, never whole in memory
    return {"name": blob.name, "media_type": blob.media_type, "path": relative}


def _area_path(relative: str, where: str, name: str) -> str:
    if _FILE_AREA is None:
        raise PayloadError(f"{where} ({name}): a 'path' payload needs the step's file area (protocol 2)")
    full = os.path.realpath(os.path.join(_FILE_AREA, relative))
    if not full.startswith(_FILE_AREA + os.sep) or not os.path.isfile(full):
        raise PayloadError(f"{where} ({name}): '{relative}' is not a file of the step's file area")
    return full


def guess_media_type(name: str) -> str:
    ext = _ext(name)
    if ext in KNOWN_TYPES:
        return KNOWN_TYPES[ext]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _ext(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def decode(payload: Any, where: str) -> Blob:
    """Checks one binary payload and returns it as a Blob; `where` names it in errors."""
    if not isinstance(payload, dict):
        raise PayloadError(f"{where}: expected an object {{name, media_type, data}}, got {type(payload).__name__}")
    if "path" in payload and "data" not in payload:  # a file in the step's file area (protocol 2)
        extra = set(payload) - {"name", "media_type", "path", "size"}
        if extra:
            raise PayloadError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        for key in ("name", "media_type", "path"):
            if not isinstance(payload.get(key), str):
                raise PayloadError(f"{where}: field '{key}' must be a string")
        if not payload["name"]:
            raise PayloadError(f"{where}: field 'name' must not be empty")
        return Blob(name=payload["name"], media_type=payload["media_type"],
                    path=_area_path(payload["path"], where, payload["name"]))
    extra = set(payload) - {"name", "media_type", "data"}
    if extra:
        raise PayloadError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    for key in ("name", "media_type", "data"):
        if not isinstance(payload.get(key), str):
            raise PayloadError(f"{where}: field '{key}' must be a string")
    if not payload["name"]:
        raise PayloadError(f"{where}: field 'name' must not be empty")
    try:
        data = base64.b64decode(payload["data"], validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"{where} ({payload['name']}): 'data' is not valid standard base64") from None
    return Blob(name=payload["name"], data=data, media_type=payload["media_type"])


def file_ext(name: str) -> str:
    return _ext(name)


# ---- images -------------------------------------------------------------------------------

def encode_image(image: Any, where: str, default_name: str) -> Blob:
    """Turns what a step returns for an image into a Blob: Blob, payload dict, encoded bytes,
    a PIL image or a numpy array (HxW or HxWx3/4, uint8, RGB order)."""
    if isinstance(image, Blob):
        return image
    if isinstance(image, dict):
        return decode(image, where)
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
        return Blob(name=default_name + _sniff_ext(data), data=data)
    mod = type(image).__module__
    if mod.startswith("PIL."):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return Blob(name=default_name + ".png", data=buf.getvalue(), media_type="image/png")
    if mod == "numpy":
        return Blob(name=default_name + ".png", data=_png_from_array(image, where), media_type="image/png")
    raise PayloadError(f"{where}: cannot use a {type(image).__name__} as an image "
                       "(give a feather.Blob, encoded bytes, a PIL image or a numpy array)")


def _png_from_array(array: Any, where: str) -> bytes:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise PayloadError(f"{where}: an image array must be HxW or HxWx3/4, got shape {tuple(array.shape)}")
    if str(array.dtype) != "uint8":
        raise PayloadError(f"{where}: an image array must have dtype uint8, got {array.dtype}")
    try:
        from PIL import Image as PILImage
    except ImportError:
        PILImage = None
    if PILImage is not None:
        buf = io.BytesIO()
        PILImage.fromarray(array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array).save(buf, format="PNG")
        return buf.getvalue()
    try:
        import cv2
    except ImportError:
        raise PayloadError(f"{where}: encoding a numpy array needs Pillow or OpenCV") from None
    bgr = array if array.ndim == 2 or array.shape[2] == 1 else cv2.cvtColor(
        array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise PayloadError(f"{where}: OpenCV could not encode the array as PNG")
    return buf.tobytes()


def _sniff_ext(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    return ".bin"


def load_image(file: Blob, fmt: str, where: str) -> Any:
    """Decodes an image file for a step: fmt is "file", "bytes", "pil", "array" or "images"
    ("images": a numpy array when numpy and Pillow are installed, else a PIL image, else bytes)."""
    if fmt == "file":
        return file
    if fmt == "bytes":
        return file.data
    if fmt == "path":
        return file.path if file.path is not None else _spill(file)
    if fmt == "text":
        return file.text
    try:
        from PIL import Image as PILImage
    except ImportError:
        PILImage = None
    try:
        import numpy
    except ImportError:
        numpy = None
    if fmt == "images":
        fmt = "array" if (numpy is not None and PILImage is not None) else "pil" if PILImage is not None else "bytes"
        if fmt == "bytes":
            return file.data
    if PILImage is None:
        raise PayloadError(f"format={fmt!r} needs Pillow (Debian: python3-pil)")
    try:
        img = PILImage.open(file.open())
        img.load()
    except Exception as exc:  # Pillow raises several types for broken files
        raise PayloadError(f"{where} ({file.name}): not a readable image: {exc}") from None
    if fmt == "pil":
        return img
    if fmt == "array":
        if numpy is None:
            raise PayloadError("format='array' needs numpy (Debian: python3-numpy)")
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        return numpy.asarray(img)
    raise ValueError(f"unknown format {fmt!r}; use one of file, bytes, text, pil, array, images")


def _spill(file: Blob) -> str:
    """A path for a blob held in memory (format="path"): written once to a temporary file."""
    import tempfile
    fd, path = tempfile.mkstemp(suffix=_ext(file.name))
    with os.fdopen(fd, "wb") as fh:
        fh.write(file.data)
    return path

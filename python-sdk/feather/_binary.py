"""The one binary encoding used everywhere: {"name", "media_type", "data": standard base64}."""
from __future__ import annotations

import base64
import binascii
import io
import mimetypes
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Blob:
    """A named blob: what a step gets for an uploaded file, and what it may return as a file."""

    name: str
    data: bytes
    media_type: str = ""

    def __post_init__(self) -> None:
        if not self.media_type:
            object.__setattr__(self, "media_type", guess_media_type(self.name))

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def to_payload(self) -> dict[str, str]:
        return {"name": self.name, "media_type": self.media_type,
                "data": base64.b64encode(self.data).decode("ascii")}


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
        img = PILImage.open(io.BytesIO(file.data))
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

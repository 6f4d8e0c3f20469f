"""image-tools: filter and caption images. Three steps, Pillow only.

1. The user uploads images (`File.Upload`).
2. `choose` shows each image with a list of filters to pick one from (`Image.WithSelectOne`).
3. `caption` shows the filtered images, each with a text box for a caption (`Image.WithTextIn`).
4. `render` draws each caption on a white band under its image and returns the results to look
   at (`Image.View`) and to download as PNG files (`File.Download`).
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

import feather as ftr

FILTERS = ["original", "greyscale", "edges", "invert", "posterize"]


def apply_filter(image: Image.Image, name: str) -> Image.Image:
    rgb = image.convert("RGB")
    if name == "original":
        return rgb
    if name == "greyscale":
        return ImageOps.grayscale(rgb).convert("RGB")
    if name == "edges":
        return ImageOps.grayscale(rgb).filter(ImageFilter.FIND_EDGES).convert("RGB")
    if name == "invert":
        return ImageOps.invert(rgb)
    if name == "posterize":
        return ImageOps.posterize(rgb, 2)
    raise ValueError(f"unknown filter {name!r}; known: {', '.join(FILTERS)}")


def with_caption(image: Image.Image, text: str) -> Image.Image:
    """The image above a white band holding the caption (Pillow's built-in bitmap font, wrapped)."""
    font = ImageFont.load_default()
    width = image.width
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and ImageDraw.Draw(image).textlength(candidate, font=font) > width - 8:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    band = 8 + 12 * max(1, len(lines))
    out = Image.new("RGB", (width, image.height + band), "white")
    out.paste(image.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    for i, text_line in enumerate(lines):
        draw.text((4, image.height + 4 + 12 * i), text_line, fill="black", font=font)
    return out


def init():
    return ftr.File.Upload(types=[".png", ".jpg", ".jpeg"], min_files=1, max_files=5, title="Upload images")


@ftr.step(title="Choose filters", description="Pick one filter per image.")
def choose(images: ftr.File.Upload) -> ftr.Image.WithSelectOne:
    files = images.get(format="file")
    return ftr.Image.WithSelectOne(images=files, lists=[FILTERS] * len(files), style="radio",
                                   title="Filter", description="One filter per image.")


@ftr.step(title="Write captions", description="Type a caption for each filtered image.")
def caption(filters: ftr.Image.WithSelectOne) -> tuple[ftr.Image.WithTextIn, list[str]]:
    chosen = filters.get()
    names = [blob.name.rsplit(".", 1)[0] for blob in filters.images(format="file")]
    filtered = [apply_filter(img, f) for img, f in zip(filters.images(format="pil"), chosen)]
    print("filters: " + ", ".join(f"{n}={f}" for n, f in zip(names, chosen)))
    stems = [f"{n}-{f}" for n, f in zip(names, chosen)]
    return (ftr.Image.WithTextIn(images=[ftr.Blob(f"{s}.png", _png(img)) for s, img in zip(stems, filtered)],
                                 max_chars=120, title="Captions"),
            stems)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@ftr.step(title="Render", description="Draws the captions under the images.", outputs=["captioned", "files"])
def render(captions: ftr.Image.WithTextIn, stems: list[str]) -> tuple[ftr.Image.View, ftr.File.Download]:
    texts = captions.get()
    done = [with_caption(img, text) for img, text in zip(captions.images(format="pil"), texts)]
    blobs = [ftr.Blob(f"{stem}-captioned.png", _png(img)) for stem, img in zip(stems, done)]
    return (ftr.Image.View(images=blobs, output_text=texts, title="Captioned images"),
            ftr.File.Download(blobs, title="Download PNGs"))


ftr.build(
    name="image-tools",
    init=init,
    steps=[choose, caption, render],
    description="Applies a filter of your choice to each image and draws your caption under it.",
    tasks=["image-editing"],
    profile="low",
    system_packages=["python3-pil"],
)

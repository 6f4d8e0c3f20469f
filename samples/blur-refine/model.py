"""blur-refine: a loop. The user adjusts a blur's strength, looking at the result each time, until
satisfied; then the result is saved as a PNG file.

    start --> refine (runs again on its own result, at most 8 times) --> save --> (end)

`refine` ends its loop itself (`ftr.done`) when the user picks "keep this one"; the user can also
move on to `save` after any iteration. Pillow only.
"""
from __future__ import annotations

import io

from PIL import Image, ImageFilter

import feather as ftr

STRENGTHS = ["0", "1", "2", "4", "8"]
KEEP = "keep this one"


def blurred(original: ftr.Image.View, strength: str) -> ftr.Blob:
    picture = original.images(format="pil")[0].convert("RGB")
    out = picture.filter(ImageFilter.GaussianBlur(float(strength))) if strength != "0" else picture
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return ftr.Blob(f"blur-{strength}.png", buf.getvalue())


def preview(original: ftr.Image.View, strength: str) -> ftr.Image.WithSelectOne:
    return ftr.Image.WithSelectOne(images=[blurred(original, strength)], lists=[STRENGTHS + [KEEP]],
                                   title=f"Blur {strength}", description="Pick another strength, or keep this one.")


def init():
    return ftr.File.Upload(types=[".png", ".jpg", ".jpeg"], min_files=1, max_files=1, title="Upload an image")


@ftr.step(title="Start", description="Shows the image blurred at strength 2.")
def start(upload: ftr.File.Upload) -> tuple[ftr.Image.WithSelectOne, ftr.Image.View]:
    original = ftr.Image.View(images=upload.get(format="file"), title="Original")
    return preview(original, "2"), original


@ftr.step(title="Refine", description="Blurs the original at the strength you picked; again until you keep one.",
          loop=8, then="save")
def refine(current: ftr.Image.WithSelectOne, original: ftr.Image.View) -> tuple[ftr.Image.WithSelectOne, ftr.Image.View]:
    choice = current.get()[0]
    print(f"strength: {choice}")
    if choice == KEEP:
        return ftr.done(current, original)
    return preview(original, choice), original


@ftr.step(title="Save", description="Saves the image at the strength you pick.", outputs=["result", "file"])
def save(current: ftr.Image.WithSelectOne, original: ftr.Image.View) -> tuple[ftr.Image.View, ftr.File.Download]:
    choice = current.get()[0]
    blob = current.images(format="file")[0] if choice == KEEP else blurred(original, choice)
    return (ftr.Image.View(images=[blob], title="Result"), ftr.File.Download([blob], title="Download PNG"))


ftr.build(
    name="blur-refine",
    title="Blur refine",
    init=init,
    steps=[start, refine, save],
    description="Looping sample: adjust a blur's strength step by step until you accept the result.",
    tasks=["image-editing"],
    profile="low",
    system_packages=["python3-pil"],
)

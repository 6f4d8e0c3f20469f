"""digit-check: a branch. The classifier shows its answer when it is confident and otherwise asks
the user to choose among its top three guesses.

    classify --confident--> (end: the answer is shown)
             --unsure-----> choose (the user picks one of the guesses) --> (end)

The classifier is image-classifier's logistic regression (weights.npz, trained by
samples/image-classifier/train.py on scikit-learn's digits data); numpy and Pillow only.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

import feather as ftr

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.npz")
#: Below this probability the model asks instead of answering.
CONFIDENT = 0.9


def probabilities(picture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The classes and their probabilities for one picture (8x8 grey like the digits data, ink high)."""
    with np.load(WEIGHTS, allow_pickle=False) as npz:
        coef, intercept, classes = npz["coef"], npz["intercept"], npz["classes"]
    grey = np.asarray(picture.convert("L"), dtype=np.float32)
    if grey.mean() > 127:
        grey = 255.0 - grey
    small = np.asarray(Image.fromarray(grey, mode="F").resize((8, 8), Image.BOX), dtype=np.float64).reshape(-1)
    features = small / small.max() if small.max() > 0 else small
    logits = coef @ features + intercept
    exp = np.exp(logits - logits.max())
    return classes, exp / exp.sum()


def init():
    return ftr.File.Upload(types=[".png", ".jpg", ".jpeg"], min_files=1, max_files=1, title="Upload a digit",
                           description="One image of a single handwritten digit (0-9).")


@ftr.step(title="Classify", description="Answers when at least 90% sure, otherwise asks you.",
          branches={"confident": ftr.END, "unsure": "choose"})
def classify(image: ftr.File.Upload) -> tuple[ftr.Image.View, ftr.List.SelectOne]:
    blob = image.get(format="file")[0]
    classes, p = probabilities(image.get(format="pil")[0])
    order = np.argsort(-p)[:3]
    best = order[0]
    print(f"{blob.name}: " + ", ".join(f"{classes[k]}={p[k]:.3f}" for k in order))  # the step's log
    if p[best] >= CONFIDENT:
        return ftr.branch("confident",
                          ftr.Image.View(images=[blob], output_text=f"{classes[best]} ({p[best]:.0%} sure)", title="Answer"),
                          ftr.List.SelectOne(items=[str(classes[best])], title="Digit"))
    guesses = [f"{classes[k]} ({p[k]:.0%})" for k in order]
    return ftr.branch("unsure",
                      ftr.Image.View(images=[blob], output_text="not sure: " + ", ".join(guesses), title="Your image"),
                      ftr.List.SelectOne(items=guesses, title="Which digit is it?"))


@ftr.step(title="Choose", description="Pick the digit the image shows.")
def choose(picture: ftr.Image.View, guesses: ftr.List.SelectOne) -> ftr.Text.View:
    chosen = guesses.get()
    first = guesses.items[0]
    return ftr.Text.View(f"You chose {chosen.split(' ')[0]}" +
                         ("; it was the model's first guess." if chosen == first else f"; the model's first guess was {first}."),
                         title="Answer")


ftr.build(
    name="digit-check",
    title="Digit check",
    init=init,
    steps=[classify, choose],
    description="Branching sample: answers a handwritten digit when confident, otherwise asks you to choose among its top guesses.",
    file_bundle=ftr.bundle(code_files=["model.py"], model_files=["weights.npz"]),
    tasks=["image-classification"],
    datasets=["sklearn-digits"],
    profile="low",
    system_packages=["python3-numpy", "python3-pil"],
)

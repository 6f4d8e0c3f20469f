"""image-classifier: the paper's Figure 1. Upload images of handwritten digits, get a label with
probabilities for each.

The classifier is a multinomial logistic regression trained by train.py on scikit-learn's bundled
handwritten-digits data (8x8 grey images). Its weights live in weights.npz as plain numpy arrays
(loaded without pickle); this file only needs numpy and Pillow.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

import feather as ftr

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.npz")


def load_weights(path: str = WEIGHTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return npz["coef"].astype(np.float64), npz["intercept"].astype(np.float64), npz["classes"]


def to_digit_features(image: Image.Image) -> np.ndarray:
    """Like the digits data: 8x8 grey, ink high, 0..1. A light background (a scan, a drawing in
    black on white) is inverted; the whole image is shrunk by area averaging, so the digit should
    fill the picture."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    if grey.mean() > 127:
        grey = 255.0 - grey
    small = np.asarray(Image.fromarray(grey, mode="F").resize((8, 8), Image.BOX), dtype=np.float64)
    peak = small.max()
    return (small / peak if peak > 0 else small).reshape(-1)


def probabilities(features: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    logits = coef @ features + intercept
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def init():
    return ftr.File.Upload(types=[".png", ".jpg", ".jpeg"], min_files=1, max_files=10,
                           title="Upload digits",
                           description="Images of single handwritten digits (0-9), dark on light or light on dark.")


@ftr.step(title="Classify", description="Labels each image with the most likely digit.",
          outputs=["labels", "probabilities"])
def classify(images: ftr.File.Upload) -> tuple[ftr.Image.View, ftr.Text.View]:
    coef, intercept, classes = load_weights()
    files = images.get(format="file")
    captions, lines = [], []
    for blob, picture in zip(files, images.get(format="pil")):
        p = probabilities(to_digit_features(picture), coef, intercept)
        order = np.argsort(-p)
        best = order[0]
        captions.append(f"{classes[best]} ({p[best]:.1%})")
        top = ", ".join(f"{classes[k]}: {p[k]:.1%}" for k in order[:3])
        lines.append(f"{blob.name}: {classes[best]} ({top})")
    print(f"classified {len(files)} image(s)")  # the step's log
    return (ftr.Image.View(images=files, output_text=captions, title="Labels"),
            ftr.Text.View(lines, title="Top 3 probabilities"))


@ftr.predict(task="image-classification", batch_size=256)
def predict(records: list[dict]) -> list[str]:
    """Evaluation: the most likely digit of each record's image (a dataset's input field "image")."""
    coef, intercept, classes = load_weights()
    features = np.stack([to_digit_features(r["image"].pil()) for r in records])
    logits = features @ coef.T + intercept
    return [str(classes[k]) for k in logits.argmax(axis=1)]


@ftr.train(task="image-classification", params={
    "epochs": ftr.Param(int, default=5, min=1, max=50, description="passes of gradient descent over the data"),
    "lr": ftr.Param(float, default=0.5, min=0.0001, max=10.0, description="learning rate"),
    "l2": ftr.Param(float, default=0.0, min=0.0, max=1.0, description="weight decay"),
})
def train(data: ftr.TrainingData, params: dict, output: str) -> None:
    """Fine-tuning: full-batch gradient descent on the softmax cross-entropy, starting from the current weights,
    over a dataset of digit images (an "image" field and a "label" field holding the digit). Writes the new
    weights.npz into `output`, where it replaces this version's."""
    coef, intercept, classes = load_weights()
    index = {str(c): k for k, c in enumerate(classes)}
    x = np.stack([to_digit_features(r["image"].pil()) for r in data])
    labels = [str(r[data.label]) for r in data]
    unknown = sorted({y for y in labels if y not in index})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not digits this model knows ({', '.join(map(str, classes))})")
    y = np.zeros((len(labels), len(classes)))
    y[np.arange(len(labels)), [index[v] for v in labels]] = 1.0
    for epoch in range(1, params["epochs"] + 1):
        logits = x @ coef.T + intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.sum(y * np.log(p + 1e-12), axis=1)))
        accuracy = float(np.mean(p.argmax(axis=1) == y.argmax(axis=1)))
        grad = (p - y) / len(labels)
        coef -= params["lr"] * (grad.T @ x + params["l2"] * coef)
        intercept -= params["lr"] * grad.sum(axis=0)
        ftr.report(epoch=epoch, epochs=params["epochs"], loss=loss, accuracy=accuracy)
    np.savez_compressed(os.path.join(output, "weights.npz"), coef=coef.astype(np.float32),
                        intercept=intercept.astype(np.float32), classes=classes)


ftr.build(
    name="image-classifier",
    init=init,
    steps=[classify],
    predict=predict,
    train=train,
    description="Handwritten digit classifier (logistic regression on scikit-learn's digits data).",
    file_bundle=ftr.bundle(code_files=["model.py"], model_files=["weights.npz"]),
    tasks=["image-classification"],
    datasets=["sklearn-digits"],
    profile="low",
    system_packages=["python3-numpy", "python3-pil"],
)

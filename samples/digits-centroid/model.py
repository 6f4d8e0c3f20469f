"""digits-centroid: a second, simpler handwritten-digit classifier, for comparison with
samples/image-classifier on the leaderboard.

Nearest centroid: train.py stores one mean 8x8 image per digit (centroids.npz, plain numpy arrays
loaded without pickle); a digit gets the label of the closest mean image. Same features and training
split as image-classifier; only numpy and Pillow are needed.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

import feather as ftr

CENTROIDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "centroids.npz")


def load_centroids(path: str = CENTROIDS) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return npz["centroids"].astype(np.float64), npz["classes"]


def to_digit_features(image: Image.Image) -> np.ndarray:
    """Like the digits data: 8x8 grey, ink high, 0..1 (the same preprocessing as image-classifier)."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    if grey.mean() > 127:
        grey = 255.0 - grey
    small = np.asarray(Image.fromarray(grey, mode="F").resize((8, 8), Image.BOX), dtype=np.float64)
    peak = small.max()
    return (small / peak if peak > 0 else small).reshape(-1)


def nearest(features: np.ndarray, centroids: np.ndarray) -> tuple[int, np.ndarray]:
    """Index of the closest centroid and the distances to all of them."""
    distances = np.sqrt(((centroids - features) ** 2).sum(axis=1))
    return int(distances.argmin()), distances


def init():
    return ftr.File.Upload(types=[".png", ".jpg", ".jpeg"], min_files=1, max_files=10,
                           title="Upload digits",
                           description="Images of single handwritten digits (0-9), dark on light or light on dark.")


@ftr.step(title="Classify", description="Labels each image with the digit whose mean image is closest.",
          outputs=["labels", "distances"])
def classify(images: ftr.File.Upload) -> tuple[ftr.Image.View, ftr.Text.View]:
    centroids, classes = load_centroids()
    files = images.get(format="file")
    captions, lines = [], []
    for blob, picture in zip(files, images.get(format="pil")):
        best, distances = nearest(to_digit_features(picture), centroids)
        captions.append(f"{classes[best]} (distance {distances[best]:.2f})")
        order = np.argsort(distances)[:3]
        lines.append(f"{blob.name}: {classes[best]} (" + ", ".join(f"{classes[k]}: {distances[k]:.2f}" for k in order) + ")")
    print(f"classified {len(files)} image(s)")  # the step's log
    return (ftr.Image.View(images=files, output_text=captions, title="Labels"),
            ftr.Text.View(lines, title="Three closest mean images"))


@ftr.predict(task="image-classification", batch_size=256)
def predict(records: list[dict]) -> list[str]:
    """Evaluation: the digit of the closest mean image for each record's image (a dataset's input field "image")."""
    centroids, classes = load_centroids()
    features = np.stack([to_digit_features(r["image"].pil()) for r in records])
    distances = ((features[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return [str(classes[k]) for k in distances.argmin(axis=1)]


ftr.build(
    name="digits-centroid",
    init=init,
    steps=[classify],
    predict=predict,
    description="Handwritten digit classifier (nearest centroid on scikit-learn's digits data), a simple baseline.",
    file_bundle=ftr.bundle(code_files=["model.py"], model_files=["centroids.npz"]),
    tasks=["image-classification"],
    datasets=["sklearn-digits"],
    profile="low",
    system_packages=["python3-numpy", "python3-pil"],
)

"""Fits the nearest-centroid digit classifier and writes centroids.npz (plain numpy arrays, no pickle).

    /usr/bin/python3 samples/digits-centroid/train.py    # needs Debian's python3-sklearn

Data: scikit-learn's bundled handwritten digits (1797 images, 8x8, grey levels 0-16, ink high), split
exactly as samples/image-classifier/train.py splits them (test_size=0.25, random_state=0, stratified),
so both classifiers train on the same 1347 digits and samples/datasets/digits-heldout holds the other
450. Model: one mean image (centroid) per digit over the 64 pixels scaled to 0-1; a digit is given the
label of the nearest centroid. It is deliberately simpler than image-classifier's logistic regression,
so the leaderboard has two models of different quality.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent


def main() -> None:
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    classes = np.unique(y_train)
    centroids = np.stack([x_train[y_train == c].mean(axis=0) for c in classes])
    distances = ((x_test[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    accuracy = float((classes[distances.argmin(axis=1)] == y_test).mean())
    print(f"held-out accuracy: {accuracy:.4f} on {len(y_test)} digits")
    np.savez_compressed(HERE / "centroids.npz", centroids=centroids.astype(np.float32),
                        classes=classes.astype(np.int64))


if __name__ == "__main__":
    main()

"""Trains the digit classifier and writes weights.npz (plain numpy arrays, no pickle).

    /usr/bin/python3 samples/image-classifier/train.py    # needs Debian's python3-sklearn

Data: scikit-learn's bundled handwritten digits (1797 images, 8x8, grey levels 0-16, ink high).
Model: multinomial logistic regression on the 64 pixels scaled to 0-1. Also writes three example
digits from the held-out part as PNGs (ink dark on white, like a scanned or drawn digit).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
EXAMPLES = {"digit-3.png": 3, "digit-7.png": 7, "digit-0.png": 0}


def main() -> None:
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target
    x_train, x_test, y_train, y_test, _, img_test = train_test_split(
        x, y, digits.images, test_size=0.25, random_state=0, stratify=y)
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit(x_train, y_train)
    print(f"held-out accuracy: {clf.score(x_test, y_test):.4f} on {len(y_test)} digits")
    np.savez_compressed(HERE / "weights.npz",
                        coef=clf.coef_.astype(np.float32),
                        intercept=clf.intercept_.astype(np.float32),
                        classes=clf.classes_.astype(np.int64))
    (HERE / "images").mkdir(exist_ok=True)
    for name, digit in EXAMPLES.items():
        index = next(i for i, t in enumerate(y_test) if t == digit and clf.predict(x_test[i:i + 1])[0] == digit)
        grey = (255 - img_test[index] * 255 / 16).round().astype(np.uint8)  # ink dark on white
        Image.fromarray(grey, mode="L").resize((64, 64), Image.NEAREST).save(HERE / "images" / name)
        print(f"wrote images/{name}")


if __name__ == "__main__":
    main()

"""Writes the training digits dataset: records.csv, images/*.png and dataset.json.

    /usr/bin/python3 samples/datasets/digits-train/make_dataset.py    # needs Debian's python3-sklearn

The digits are scikit-learn's bundled 8x8 digits (UCI ML hand-written digits). The split is exactly the
one samples/image-classifier/train.py makes (test_size=0.25, random_state=0, stratified): 900 of the 1347
training digits (digits-heldout holds the other 450; a dataset version holds at most 1000 files by default).
It is the data to fine-tune samples/image-classifier with.
Each image is written as samples/image-classifier's example images are: ink dark on white, scaled up without
smoothing (32x32), so the classifier's own preprocessing (a box filter back to 8x8) sees exactly the original digit.
"""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
COUNT = 900


def main() -> None:
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    _, _, y_train, _, img_train, _ = train_test_split(
        x, digits.target, digits.images, test_size=0.25, random_state=0, stratify=digits.target)

    images = HERE / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir()
    with open(HERE / "records.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "label"])
        # the first COUNT of the training split: a dataset version holds at most 1000 files by default (FEATHER_MAX_FILES)
        for i, (image, label) in enumerate(zip(img_train[:COUNT], y_train[:COUNT])):
            grey = (255 - image * 255 / 16).round().astype(np.uint8)
            name = f"images/{i:04d}.png"
            Image.fromarray(grey, mode="L").resize((32, 32), Image.NEAREST).save(HERE / name, optimize=True)
            writer.writerow([name, int(label)])

    manifest = {
        "name": "digits-train",
        "title": "Digits, training split",
        "description": (
            "900 of the 1347 hand-written digits (8x8, scaled to 32x32 PNG) of the training split, to fine-tune "
            "samples/image-classifier with: scikit-learn's bundled digits, split with test_size=0.25, random_state=0, "
            "stratified by digit (digits-heldout holds the other 450)."),
        "task": "image-classification",
        "licence": "CC BY 4.0 (UCI Machine Learning Repository: Optical Recognition of Handwritten Digits)",
        "citation": ("Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits [Dataset]. "
                     "UCI Machine Learning Repository. https://doi.org/10.24432/C50P49"),
        "records": "records.csv",
        "fields": [
            {"name": "image", "type": "image", "role": "input", "description": "the digit, ink dark on white"},
            {"name": "label", "type": "label", "role": "label", "description": "the digit shown",
             "classes": [str(d) for d in range(10)]},
        ],
    }
    (HERE / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {min(COUNT, len(y_train))} records, images/ and dataset.json")


if __name__ == "__main__":
    main()

"""text-topics: which topic a short news sentence is about (sport, weather, food or technology).

A multinomial naive Bayes over word counts, with numpy only. It is trained when the model is first used, from
train.jsonl (720 labelled sentences, a model file; made with the held-out split of
samples/datasets/topics-heldout by that dataset's make_dataset.py), in a few milliseconds: no weights file to
keep in step with the data. One step labels a pasted text; the predict function answers dataset records
(evaluation on the text-classification leaderboard).
"""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache

import numpy as np

import feather as ftr

TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.jsonl")
EXAMPLE = "The striker scored a late goal and the home fans celebrated in the stadium."


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


class NaiveBayes:
    """Multinomial naive Bayes with add-one (Laplace) smoothing; words never seen in training are ignored."""

    def __init__(self, texts: list[str], labels: list[str]):
        self.classes = sorted(set(labels))
        self.vocabulary = {w: i for i, w in enumerate(sorted({w for t in texts for w in tokens(t)}))}
        counts = np.zeros((len(self.classes), len(self.vocabulary)))
        for text, label in zip(texts, labels):
            row = self.classes.index(label)
            for word in tokens(text):
                counts[row, self.vocabulary[word]] += 1
        self.log_prior = np.log(np.array([labels.count(c) for c in self.classes], dtype=np.float64) / len(labels))
        self.log_likelihood = np.log((counts + 1) / (counts.sum(axis=1, keepdims=True) + len(self.vocabulary)))

    def features(self, texts: list[str]) -> np.ndarray:
        x = np.zeros((len(texts), len(self.vocabulary)))
        for i, text in enumerate(texts):
            for word in tokens(text):
                if word in self.vocabulary:
                    x[i, self.vocabulary[word]] += 1
        return x

    def probabilities(self, texts: list[str]) -> np.ndarray:
        scores = self.features(texts) @ self.log_likelihood.T + self.log_prior
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.classes[k] for k in self.probabilities(texts).argmax(axis=1)]


@lru_cache(maxsize=1)
def model() -> NaiveBayes:
    with open(TRAIN, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return NaiveBayes([r["text"] for r in rows], [r["topic"] for r in rows])


def init():
    return ftr.Text.In(default_text=EXAMPLE, max_chars=2000, title="News sentence",
                       description="One or more short sentences; each line is labelled on its own.")


@ftr.step(title="Topic", description="Labels each line with its most likely topic and the probabilities of all four.")
def classify(text: ftr.Text.In) -> ftr.Text.View:
    lines = [line.strip() for t in text.get() for line in t.splitlines() if line.strip()]
    if not lines:
        return ftr.Text.View(["(no sentence to label: write at least one)"], title="Topics")
    nb = model()
    out = []
    for line, p in zip(lines, nb.probabilities(lines)):
        order = np.argsort(-p)
        out.append(f"{nb.classes[order[0]]}: " + ", ".join(f"{nb.classes[k]} {p[k]:.2f}" for k in order) + f"  ({line})")
    print(f"labelled {len(lines)} line(s)")  # the step's log
    return ftr.Text.View(out, title="Topics")


@ftr.predict(task="text-classification", batch_size=256)
def predict(records: list[dict]) -> list[str]:
    """Evaluation: the most likely topic of each record's "text" field."""
    return model().predict([r["text"] for r in records])


ftr.build(
    name="text-topics",
    init=init,
    steps=[classify],
    predict=predict,
    description="Topic of a short news sentence (sport, weather, food, technology): naive Bayes on word counts, numpy only.",
    file_bundle=ftr.bundle(code_files=["model.py"], model_files=["train.jsonl"]),
    tasks=["text-classification"],
    datasets=["topics-heldout"],
    profile="low",
    system_packages=["python3-numpy"],
)

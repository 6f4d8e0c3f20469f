"""The evaluation metrics, as the server computes them (docs/datasets.md, "Evaluation"), for
`python3 -m feather evaluate` on the developer's machine. No third-party dependency."""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Any

PRIMARY = {"image-classification": "accuracy", "text-classification": "accuracy", "regression": "rmse",
           "question-answering": "token_f1", "text-generation": "token_f1"}


def classification(labels: list[str], predictions: list[str], classes: list[str] | None = None) -> dict[str, Any]:
    n = len(labels)
    accuracy = sum(1 for y, p in zip(labels, predictions) if y == p) / n if n else 0.0
    union = sorted(set(labels) | set(predictions))
    f1s = []
    for c in union:
        tp = sum(1 for y, p in zip(labels, predictions) if y == c and p == c)
        fp = sum(1 for y, p in zip(labels, predictions) if y != c and p == c)
        fn = sum(1 for y, p in zip(labels, predictions) if y == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    order = list(classes) if classes else sorted(set(labels))
    order += sorted(set(labels) - set(order))
    index = {c: i for i, c in enumerate(order)}
    other = any(p not in index for p in predictions)
    matrix = [[0] * (len(order) + (1 if other else 0)) for _ in order]
    for y, p in zip(labels, predictions):
        matrix[index[y]][index.get(p, len(order))] += 1
    recall = {c: (matrix[i][i] / sum(matrix[i]) if sum(matrix[i]) else None) for i, c in enumerate(order)}
    return {"metrics": {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0},
            "classes": order, "per_class_recall": recall, "confusion_matrix": matrix, "other_predictions": other}


def regression(labels: list[float], predictions: list[float]) -> dict[str, Any]:
    n = len(labels)
    errors = [p - y for y, p in zip(labels, predictions)]
    mae = sum(abs(e) for e in errors) / n
    mse = sum(e * e for e in errors) / n
    mean = sum(labels) / n
    ss_tot = sum((y - mean) ** 2 for y in labels)
    ss_res = mse * n
    r2 = (1.0 if ss_res == 0 else 0.0) if ss_tot == 0 else 1 - ss_res / ss_tot
    return {"metrics": {"mae": mae, "rmse": math.sqrt(mse), "r2": r2}}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, answer: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def text(labels: list[str], predictions: list[str]) -> dict[str, Any]:
    n = len(labels)
    em = sum(1 for y, p in zip(labels, predictions) if normalize_answer(y) == normalize_answer(p)) / n
    f1 = sum(token_f1(p, y) for y, p in zip(labels, predictions)) / n
    return {"metrics": {"exact_match": em, "token_f1": f1}}


def compute(task: str, labels: list[Any], predictions: list[Any], classes: list[str] | None = None) -> dict[str, Any]:
    if task in ("image-classification", "text-classification"):
        return classification([str(y) for y in labels], [str(p) for p in predictions], classes)
    if task == "regression":
        return regression([float(y) for y in labels], [float(p) for p in predictions])
    return text([str(y) for y in labels], [str(p) for p in predictions])

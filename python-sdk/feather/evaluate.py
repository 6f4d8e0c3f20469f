"""`python3 -m feather evaluate MODEL --dataset DIR`: the model's predict function over a dataset directory on
this machine, with the metrics the server computes. Labels are read here; the model's function never sees them."""
from __future__ import annotations

import csv
import json
import os
from typing import Any

from .errors import ModelDefinitionError, PayloadError
from .predict import RecordFile, run_batches


class DatasetError(Exception):
    pass


def read_dataset(directory: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """(manifest, input records, labels) of a dataset directory (docs/datasets.md)."""
    root = os.path.realpath(directory)
    manifest_path = os.path.join(root, "dataset.json")
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{manifest_path}: cannot read the manifest: {exc}") from None
    fields = manifest.get("fields") or []
    labels_fields = [f for f in fields if f.get("role") == "label"]
    if not labels_fields:
        raise DatasetError(f"{manifest_path}: no field has role 'label'")
    label_field = labels_fields[0]["name"]
    inputs = [f for f in fields if f.get("role") == "input"]
    records_path = os.path.realpath(os.path.join(root, manifest.get("records", "")))
    if not records_path.startswith(root + os.sep):
        raise DatasetError(f"{manifest_path}: records must be a path inside the dataset directory")
    try:
        with open(records_path, encoding="utf-8", newline="") as fh:
            if records_path.endswith(".jsonl"):
                rows = [json.loads(line) for line in fh if line.strip()]
            else:
                rows = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{records_path}: {exc}") from None
    records, labels = [], []
    for n, row in enumerate(rows, start=1):
        values: dict[str, Any] = {}
        for f in inputs:
            raw = row.get(f["name"])
            kind = f.get("type")
            if kind in ("file", "image"):
                path = os.path.realpath(os.path.join(root, str(raw)))
                if not path.startswith(root + os.sep) or not os.path.isfile(path):
                    raise DatasetError(f"{records_path}: record {n}, field {f['name']!r}: {raw!r} is not a file in the dataset")
                values[f["name"]] = RecordFile(str(raw), path=path)
            elif kind == "number":
                values[f["name"]] = float(raw)  # type: ignore[arg-type]
            elif kind == "integer":
                values[f["name"]] = int(raw)  # type: ignore[arg-type]
            else:
                values[f["name"]] = raw
        records.append(values)
        label = row.get(label_field)
        labels.append(float(label) if labels_fields[0].get("type") in ("number", "integer") else str(label))  # type: ignore[arg-type]
    return manifest, records, labels


def evaluate(model_path: str, dataset_dir: str) -> dict[str, Any]:
    """Runs the model's predict function over the dataset; returns the task, metrics and per-record results."""
    from . import metrics
    from .loader import load
    from .runtime import stdout_to_stderr
    manifest, records, labels = read_dataset(dataset_dir)
    with stdout_to_stderr():
        loaded = load(model_path)
        predictor = loaded.model.predictor
        if predictor is None:
            raise ModelDefinitionError("the model declares no predict function: ftr.build(..., predict=fn) "
                                       "with @ftr.predict(task=...)", loaded.model.file, loaded.model.line)
        if predictor.task != manifest.get("task"):
            raise DatasetError(f"the model predicts for {predictor.task}, the dataset is for {manifest.get('task')}")
        from .model import run_prepare
        run_prepare(loaded.model)
        predictions = run_batches(predictor, records)
    label_field = next(f for f in manifest["fields"] if f.get("role") == "label")
    result = metrics.compute(predictor.task, labels, predictions, label_field.get("classes"))
    return {"task": predictor.task, "dataset": manifest.get("name"), "records": len(records),
            "primary_metric": metrics.PRIMARY[predictor.task], **result,
            "predictions": [{"index": i, "label": y, "prediction": p} for i, (y, p) in enumerate(zip(labels, predictions))]}


def main(model: str, dataset: str, as_json: bool) -> int:
    import sys
    try:
        result = evaluate(model, dataset)
    except ModelDefinitionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (DatasetError, PayloadError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['dataset']}: {result['records']} records, task {result['task']}")
    for name, value in result["metrics"].items():
        marker = "  (primary)" if name == result["primary_metric"] else ""
        print(f"  {name:12} {value:.4f}{marker}")
    if "per_class_recall" in result:
        wrong = sum(1 for r in result["predictions"] if str(r["label"]) != str(r["prediction"]))
        print(f"  wrong: {wrong} record(s)")
        print("  recall per class: " + ", ".join(f"{c}={'-' if r is None else f'{r:.2f}'}"
                                                 for c, r in result["per_class_recall"].items()))
    return 0

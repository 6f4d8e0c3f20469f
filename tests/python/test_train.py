"""Fine-tuning in the SDK: @ftr.train + ftr.Param + ftr.build(train=...), the metadata key (and its schema),
ftr.report, the runtime's train mode, and `python3 -m feather train` (the image-classifier sample learns)."""
from __future__ import annotations

import base64
import hashlib
import io
import json

from conftest import REPO, feather, run_runtime

MODEL = '''
import os
import feather as ftr

def init():
    return ftr.Text.In()

@ftr.step
def echo(t: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(t.get())

@ftr.train(task="text-classification", params={
    "epochs": ftr.Param(int, default=2, min=1, max=5, description="passes"),
    "lr": ftr.Param(float, default=0.5, min=0.0, max=1.0),
    "mode": ftr.Param(str, default="ok", choices=["ok", "raise", "nothing", "link"]),
    "upper": ftr.Param(bool, default=False),
})
def train(data, params, output):
    if params["mode"] == "raise":
        raise RuntimeError("the data is bad")
    if params["mode"] == "nothing":
        return
    if params["mode"] == "link":
        os.symlink("/etc/passwd", os.path.join(output, "weights.txt"))
        return
    seen = []
    for batch in data.batches(2):
        for r in batch:
            seen.append(f"{r['text']}={r['label']}" + (f":{r['image'].name}:{len(r['image'].data)}" if r.get("image") else ""))
    for epoch in range(1, params["epochs"] + 1):
        ftr.report(epoch=epoch, epochs=params["epochs"], loss=1.0 / epoch)
    print("trained", len(data), "records")
    os.makedirs(os.path.join(output, "sub"))
    with open(os.path.join(output, "weights.txt"), "w") as fh:
        text = ";".join(seen) + f";lr={params['lr']}"
        fh.write(text.upper() if params["upper"] else text)
    with open(os.path.join(output, "sub", "extra.bin"), "wb") as fh:
        fh.write(bytes(range(8)))

ftr.build(name="tuner", init=init, steps=[echo], train=train)
'''

FIELDS = [{"name": "text", "type": "text", "role": "input"}, {"name": "label", "type": "label", "role": "label"}]
RECORDS = [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}, {"text": "c", "label": "x"}]


def request(**params):
    return {"protocol": 1, "mode": "train", "entrypoint": "model.py", "fields": FIELDS, "records": RECORDS, "params": params}


def test_metadata_carries_train_with_its_params_as_json_schemas(write_model):
    d = write_model(MODEL)
    done = feather("inspect", str(d))
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["train"] == {
        "function": "train", "task": "text-classification",
        "params": {
            "epochs": {"type": "integer", "default": 2, "minimum": 1, "maximum": 5, "description": "passes"},
            "lr": {"type": "number", "default": 0.5, "minimum": 0.0, "maximum": 1.0},
            "mode": {"type": "string", "default": "ok", "enum": ["ok", "raise", "nothing", "link"]},
            "upper": {"type": "boolean", "default": False},
        },
    }
    # a model without a training function has no train key (and older metadata stays valid)
    meta = json.loads(feather("inspect", str(write_model(MODEL.replace(", train=train", "")))).stdout)
    assert "train" not in meta


def test_declaration_mistakes_are_reported_with_file_and_line(write_model):
    cases = [
        ('default=2, min=1, max=5', 'default=9, min=1, max=5', "param 'epochs': the default 9 is above the maximum 5"),
        ('ftr.Param(int, default=2', 'ftr.Param(list, default=2', "param 'epochs': the type must be int, float, str or bool"),
        ('"epochs": ftr.Param', '"Epochs": ftr.Param', "param name 'Epochs' must be lower-case"),
        ('"upper": ftr.Param(bool, default=False)', '"upper": 3', "param 'upper' must be an ftr.Param"),
        ('task="text-classification"', 'task="poetry"', "train task 'poetry' is not one of"),
        ('choices=["ok", "raise", "nothing", "link"]', 'choices=["ok", 2]', "param 'mode': the choice 2 is not a str"),
    ]
    for old, new, message in cases:
        done = feather("inspect", str(write_model(MODEL.replace(old, new))))
        assert done.returncode == 1, new
        assert "model.py:18: " + message in done.stderr, done.stderr
    done = feather("inspect", str(write_model(MODEL.replace("@ftr.train(", "@ftr.predict(task='regression')\ndef _p(r): return r\n@ftr.train("
                                                           ).replace("train=train", "train=_p"))))
    assert done.returncode == 1
    assert "train must be a function decorated with @ftr.train" in done.stderr


def test_the_runtime_trains_reports_progress_and_returns_the_files(write_model):
    d = write_model(MODEL)
    png = base64.b64encode(b"\x89PNG1234").decode()
    req = request(epochs=3)
    req["fields"] = FIELDS + [{"name": "image", "type": "image", "role": "input"}]
    req["records"] = [dict(r, image={"name": f"images/{i}.png", "media_type": "image/png", "data": png}) for i, r in enumerate(RECORDS)]
    lines, stderr, rc = run_runtime(d, req)
    assert rc == 0, stderr
    assert lines[0] == {"type": "status", "status": "running", "step": None}
    progress = [line for line in lines if line["type"] == "progress"]
    assert progress == [{"type": "progress", "epoch": k, "epochs": 3, "metrics": {"loss": 1.0 / k}} for k in (1, 2, 3)]
    result = lines[-1]
    assert result["status"] == "succeeded", result
    assert result["params"] == {"epochs": 3, "lr": 0.5, "mode": "ok", "upper": False}
    assert result["metrics"] == {"loss": 1.0 / 3}
    files = {f["path"]: f for f in result["files"]}
    assert sorted(files) == ["sub/extra.bin", "weights.txt"]
    text = base64.b64decode(files["weights.txt"]["data"])
    # every record, labels included, in order, with its file
    assert text == b"a=x:images/0.png:8;b=y:images/1.png:8;c=x:images/2.png:8;lr=0.5"
    assert files["weights.txt"]["sha256"] == hashlib.sha256(text).hexdigest()
    assert files["weights.txt"]["size"] == len(text)
    assert base64.b64decode(files["sub/extra.bin"]["data"]) == bytes(range(8))
    assert "trained 3 records" in stderr  # the model's prints go to the log, never to stdout


def test_a_raising_training_function_fails_with_its_traceback_in_the_log(write_model):
    d = write_model(MODEL)
    lines, stderr, rc = run_runtime(d, request(mode="raise"))
    assert rc == 0
    result = lines[-1]
    assert result["status"] == "failed"
    assert result["error"]["type"] == "RuntimeError" and result["error"]["message"] == "the data is bad"
    assert result["error"]["frames"][-1]["function"] == "train"
    assert "Traceback (most recent call last)" in stderr and "RuntimeError: the data is bad" in stderr


def test_bad_params_and_empty_or_unsafe_outputs_are_clear_failures(write_model):
    d = write_model(MODEL)
    for params, message in [({"epochs": 9}, "param 'epochs': 9 is above the maximum 5"),
                            ({"epochs": "3"}, "param 'epochs': '3' is a str, not an int"),
                            ({"mode": "other"}, "param 'mode': 'other' is not one of"),
                            ({"momentum": 1}, "unknown param 'momentum' (the training function declares: epochs, lr, mode, upper)")]:
        lines, _, _ = run_runtime(d, request(**params))
        assert lines[-1]["status"] == "failed" and lines[-1]["error"]["type"] == "RequestError"
        assert message in lines[-1]["error"]["message"]
    lines, _, _ = run_runtime(d, request(mode="nothing"))
    assert lines[-1]["error"]["type"] == "OutputError"
    assert "train wrote no file into its output folder" in lines[-1]["error"]["message"]
    lines, _, _ = run_runtime(d, request(mode="link"))
    assert lines[-1]["error"]["type"] == "OutputError" and "wrote a link (weights.txt)" in lines[-1]["error"]["message"]
    no_train = write_model(MODEL.replace(", train=train", ""))
    lines, _, _ = run_runtime(no_train, request())
    assert "declares no training function" in lines[-1]["error"]["message"]


def test_feather_train_runs_locally_with_params(write_model, tmp_path):
    d = write_model(MODEL)
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.json").write_text(json.dumps({"name": "d", "task": "text-classification", "records": "records.jsonl",
                                                   "fields": FIELDS}))
    (data / "records.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS))
    out = tmp_path / "out"
    done = feather("train", str(d / "model.py"), "--dataset", str(data), "--param", "epochs=4", "--param", "upper=true",
                   "--output", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["params"] == {"epochs": 4, "lr": 0.5, "mode": "ok", "upper": True}
    assert [e["epoch"] for e in result["progress"]] == [1, 2, 3, 4]
    assert "epoch 4/4, loss 0.25" in done.stderr
    assert (out / "weights.txt").read_text() == "A=X;B=Y;C=X;LR=0.5"
    # a non-empty output folder, a bad param and a raising function are refused clearly
    done = feather("train", str(d), "--dataset", str(data), "--output", str(out))
    assert done.returncode == 1 and "is not empty" in done.stderr
    done = feather("train", str(d), "--dataset", str(data), "--param", "epochs=x", "--output", str(tmp_path / "o2"))
    assert done.returncode == 1 and "param 'epochs': invalid literal for int()" in done.stderr
    done = feather("train", str(d), "--dataset", str(data), "--param", "mode=raise", "--output", str(tmp_path / "o3"))
    assert done.returncode == 1 and "RuntimeError: the data is bad" in done.stderr and "Traceback" in done.stderr


def test_the_image_classifier_fine_tunes_on_the_digits_and_the_loss_falls(tmp_path):
    out = tmp_path / "out"
    done = feather("train", str(REPO / "samples" / "image-classifier"), "--dataset",
                   str(REPO / "samples" / "datasets" / "digits-train"), "--param", "epochs=5", "--param", "lr=2",
                   "--output", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    losses = [e["metrics"]["loss"] for e in result["progress"]]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert result["metrics"]["accuracy"] > 0.95
    assert [f["path"] for f in result["files"]] == ["weights.npz"]
    import numpy as np  # the runner image and /usr/bin/python3 have numpy
    with np.load(io.BytesIO((out / "weights.npz").read_bytes()), allow_pickle=False) as npz:
        assert npz["coef"].shape == (10, 64) and list(npz["classes"]) == list(range(10))

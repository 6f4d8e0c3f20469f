"""Evaluation in the SDK: @ftr.predict + ftr.build(predict=...), the metadata key, the runtime's evaluate mode,
and `python3 -m feather evaluate` (metrics equal scikit-learn's)."""
from __future__ import annotations

import base64
import json

from conftest import PYTHON, REPO, feather, run_runtime

MODEL = '''
import feather as ftr

def init():
    return ftr.Text.In()

@ftr.step
def echo(t: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(t.get())

@ftr.predict(task="text-classification", batch_size=2)
def predict(records):
    out = []
    for r in records:
        if "image" in r:
            out.append(f"{r['image'].name}:{len(r['image'].data)}:{r['image'].open().read(4)!r}:{r['n']}")
        else:
            out.append("spam" if "win" in r["text"] else "ham")
    return out

ftr.build(name="clf", init=init, steps=[echo], predict=predict)
'''


def test_metadata_carries_predict_and_its_task_tag(write_model):
    d = write_model(MODEL)
    done = feather("inspect", str(d))
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["predict"] == {"task": "text-classification", "batch_size": 2, "function": "predict"}
    assert "text-classification" in meta["tags"]["task"]


def test_a_model_without_predict_has_no_predict_key(write_model):
    d = write_model(MODEL.replace(", predict=predict", ""))
    meta = json.loads(feather("inspect", str(d)).stdout)
    assert "predict" not in meta


def test_mistakes_are_reported_with_file_and_line(write_model):
    d = write_model(MODEL.replace('task="text-classification"', 'task="classification"'))
    done = feather("inspect", str(d))
    assert done.returncode == 1
    assert "model.py:12: predict task 'classification' is not one of" in done.stderr
    d = write_model(MODEL.replace("batch_size=2", "batch_size=0"))
    assert "model.py:12: predict batch_size must be an integer from 1 to 4096" in feather("inspect", str(d)).stderr
    d = write_model(MODEL.replace("@ftr.predict(task=\"text-classification\", batch_size=2)\n", ""))
    done = feather("inspect", str(d))
    assert done.returncode == 1
    assert "model.py:20: predict must be a function decorated with @ftr.predict" in done.stderr


def test_the_runtime_answers_an_evaluate_request_in_batches(write_model):
    d = write_model(MODEL)
    lines, stderr, rc = run_runtime(d, {"protocol": 1, "mode": "evaluate", "entrypoint": "model.py",
                                        "fields": [{"name": "text", "type": "text"}],
                                        "records": [{"text": "win cash"}, {"text": "hello"}, {"text": "win"}]})
    assert rc == 0, stderr
    assert lines[-1] == {"type": "result", "status": "succeeded", "predictions": ["spam", "ham", "spam"]}
    png = base64.b64encode(b"\x89PNG....").decode()
    lines, stderr, rc = run_runtime(d, {"protocol": 1, "mode": "evaluate", "entrypoint": "model.py",
                                        "fields": [{"name": "image", "type": "image"}, {"name": "n", "type": "integer"}],
                                        "records": [{"image": {"name": "images/1.png", "media_type": "image/png", "data": png}, "n": 3}]})
    assert lines[-1]["predictions"] == ["images/1.png:8:b'\\x89PNG':3"], stderr


def test_a_wrong_count_or_type_is_a_prediction_error(write_model):
    d = write_model(MODEL.replace("return out", "return out[:-1]"))
    lines, _, _ = run_runtime(d, {"protocol": 1, "mode": "evaluate", "entrypoint": "model.py",
                                  "fields": [{"name": "text", "type": "text"}], "records": [{"text": "a"}, {"text": "b"}]})
    assert lines[-1]["status"] == "failed"
    assert lines[-1]["error"]["type"] == "PredictionError"
    assert "returned 1 predictions for a batch of 2 records (records 0..1)" in lines[-1]["error"]["message"]
    d = write_model(MODEL.replace("return out", "return [None] * len(out)"))
    lines, _, _ = run_runtime(d, {"protocol": 1, "mode": "evaluate", "entrypoint": "model.py",
                                  "fields": [{"name": "text", "type": "text"}], "records": [{"text": "a"}]})
    assert "prediction 0 is a NoneType, the task text-classification needs a str" in lines[-1]["error"]["message"]


def test_local_evaluate_of_the_image_classifier_equals_scikit_learn():
    import subprocess
    done = feather("evaluate", str(REPO / "samples" / "image-classifier"), "--dataset",
                   str(REPO / "samples" / "datasets" / "digits-heldout"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["records"] == 450 and result["primary_metric"] == "accuracy"
    y = [r["label"] for r in result["predictions"]]
    p = [r["prediction"] for r in result["predictions"]]
    script = ("import json,sys; from sklearn import metrics; d=json.load(sys.stdin); "
              "print(json.dumps([metrics.accuracy_score(d[0], d[1]), metrics.f1_score(d[0], d[1], average='macro')]))")
    sk = json.loads(subprocess.run([PYTHON, "-c", script], input=json.dumps([y, p]), capture_output=True, text=True,
                                   check=True).stdout)
    assert abs(result["metrics"]["accuracy"] - sk[0]) < 1e-12
    assert abs(result["metrics"]["macro_f1"] - sk[1]) < 1e-12
    assert result["metrics"]["accuracy"] > 0.9

"""A model's one-off preparation (`ftr.build(..., prepare=fn)`, `ftr.prepared()`): run before the request
in a prepared container (FEATHER_ENTRYPOINT), once per process, its failure reported as the step's result."""
from __future__ import annotations

import json
import subprocess
import time

from conftest import PYTHON, run_runtime, sdk_env, feather

MODEL = '''
import time
import feather as ftr

def load():
    if open("mode.txt").read().strip() == "fail":
        raise RuntimeError("weights missing")
    return {"prepared_at": time.time(), "calls": 1}

def init():
    return ftr.Text.In(num_inputs=1, max_chars=10)

@ftr.step(outputs=["out"])
def answer(words: ftr.Text.In) -> ftr.Text.View:
    state = ftr.prepared()
    assert ftr.prepared() is state
    return ftr.Text.View([repr(state["prepared_at"]), repr(time.time())])

ftr.build(name="prep", init=init, steps=[answer], prepare=load)
'''

REQUEST = {"protocol": 1, "entrypoint": "model.py", "step": 0,
           "responses": {"words": {"texts": ["x"]}}, "previous": None}


def test_prepared_container_prepares_before_reading_the_request(write_model):
    directory = write_model(MODEL, **{"mode.txt": "ok"})
    env = sdk_env() | {"FEATHER_ENTRYPOINT": "model.py"}
    proc = subprocess.Popen([PYTHON, "-m", "feather.runtime"], cwd=directory, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())  # written before any input was sent
    assert first == {"type": "status", "status": "prepared", "ok": True}
    time.sleep(0.3)
    sent = time.time()
    out, _ = proc.communicate(json.dumps(REQUEST), timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "succeeded", result
    prepared_at, stepped_at = (float(t) for t in result["outputs"][0]["value"]["texts"])
    assert prepared_at < sent <= stepped_at
    assert stepped_at - sent < 5


def test_preparation_failure_is_the_step_result(write_model):
    directory = write_model(MODEL, **{"mode.txt": "fail"})
    lines, _, rc = run_runtime(directory, REQUEST)
    assert rc == 0
    assert lines[-1]["status"] == "failed"
    assert lines[-1]["error"]["type"] == "PreparationError"
    assert "weights missing" in lines[-1]["error"]["message"]
    assert any(f["function"] == "load" for f in lines[-1]["error"]["frames"])


def test_a_failed_preparation_is_announced_with_its_error_before_the_request(write_model):
    directory = write_model(MODEL, **{"mode.txt": "fail"})
    env = sdk_env() | {"FEATHER_ENTRYPOINT": "model.py"}
    proc = subprocess.Popen([PYTHON, "-m", "feather.runtime"], cwd=directory, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())  # before any input: the runner reports it on the version
    assert first["ok"] is False and first["status"] == "prepared"
    assert first["error"]["type"] == "PreparationError"
    assert "weights missing" in first["error"]["message"]
    assert any(f["function"] == "load" for f in first["error"]["frames"])
    out, _ = proc.communicate(json.dumps(REQUEST), timeout=60)
    assert json.loads(out.strip().splitlines()[-1])["error"] == first["error"]  # the step that used it fails the same way


def test_local_runs_prepare_and_metadata_records_it(write_model, tmp_path):
    directory = write_model(MODEL, **{"mode.txt": "ok"})
    lines, _, _ = run_runtime(directory, REQUEST)
    assert lines[-1]["status"] == "succeeded"
    meta = json.loads(feather("inspect", str(directory)).stdout)
    assert meta["prepare"] is True


def test_prepare_must_be_callable(write_model):
    directory = write_model('''
import feather as ftr
def init():
    return ftr.Text.In()
@ftr.step()
def s(t: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View("x")
ftr.build(name="bad", init=init, steps=[s], prepare="weights.bin")
''')
    proc = feather("inspect", str(directory))
    assert proc.returncode != 0
    assert "prepare must be a function" in proc.stderr

"""`python3 -m feather inspect`: metadata of multi-step models (snapshots) and each error."""
from __future__ import annotations

import json
import os

import pytest

from conftest import REPO, feather
from feather import _jsonschema
from feather.metadata import inspect_path, load_schema

SNAPSHOTS = REPO / "tests" / "python" / "snapshots"
UPDATE = os.environ.get("FEATHER_UPDATE_SNAPSHOTS") == "1"

MULTI = '''
import feather as ftr

def init():
    return (ftr.Text.In(default_text="a cat", num_inputs=2, max_chars=40, title="Prompts"),
            ftr.List.SelectOne(["small", "large"], style="dropdown", title="Size"))

@ftr.step(title="Draft", description="Makes candidates")
def draft(prompts: ftr.Text.In, size) -> tuple[ftr.List.SelectMulti, dict[str, int]]:
    return ftr.List.SelectMulti(prompts.get(), max_selected=1), {"size": 1}

@ftr.step(title="Annotate")
def annotate(candidates, info: dict) -> tuple[ftr.Document.WithTextIn, ftr.Image.WithTextIn]:
    raise RuntimeError("never runs during inspect")

@ftr.step(outputs=["files", "summary"])
def finish(docs, pics) -> tuple[ftr.File.Download, ftr.Text.View]:
    raise RuntimeError("never runs during inspect")

ftr.build(name="multi-demo", init=init, steps=[draft, annotate, finish], description="Four kinds of steps.",
          tasks=["demo"], datasets=["none"], profile="medium", python_packages=["requests>=2"])
'''


def snapshot(name: str, data: dict) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no snapshot {path}; run with FEATHER_UPDATE_SNAPSHOTS=1"
    assert json.loads(path.read_text()) == json.loads(text), f"metadata differs from {path}"


def test_multi_step_metadata_matches_snapshot_and_schema(write_model):
    directory = write_model(MULTI)
    metadata = inspect_path(str(directory), scan_environment=False)
    assert _jsonschema.errors(metadata, load_schema()) == []
    assert [s["name"] for s in metadata["steps"]] == ["draft", "annotate", "finish"]
    assert [i["name"] for i in metadata["steps"][1]["inputs"]] == ["candidates", "info"]
    assert metadata["final_outputs"] == metadata["steps"][-1]["outputs"]
    snapshot("multi-demo", metadata)


def test_vqg_sample_metadata_matches_snapshot():
    metadata = inspect_path(str(REPO / "samples" / "vqg"), scan_environment=False)
    assert _jsonschema.errors(metadata, load_schema()) == []
    snapshot("vqg", metadata)


def test_hello_sample_cli_prints_schema_valid_json():
    proc = feather("inspect", str(REPO / "samples" / "hello"))
    assert proc.returncode == 0, proc.stderr
    metadata = json.loads(proc.stdout)
    assert metadata["name"] == "hello" and metadata["num_steps"] == 1
    assert metadata["init"][0]["component"] == "Text.In"
    assert metadata["final_outputs"][0]["name"] == "greeting"


def test_schema_rejects_bad_metadata():
    metadata = inspect_path(str(REPO / "samples" / "hello"), scan_environment=False)
    metadata["steps"][0]["outputs"][0]["component"] = "Text.Shout"
    metadata["name"] = "Bad Name"
    problems = _jsonschema.errors(metadata, load_schema())
    assert any("Text.Shout" in p for p in problems) and any("Bad Name" in p for p in problems)


HEAD = "import feather as ftr\n\ndef init():\n    return ftr.Text.In()\n\n"
GOOD_STEP = "def greet(name) -> ftr.Text.View:\n    return ftr.Text.View('x')\n\n"


@pytest.mark.parametrize("body, line, message", [
    # a step whose parameters do not match what the previous step returns
    ("def greet(a, b) -> ftr.Text.View:\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     6, "step 'greet' takes 2 parameter(s) (a, b) but init() returns 1 (Text.In)"),
    ("def greet(name: ftr.Image.View) -> ftr.Text.View:\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     6, "parameter 'name' is annotated Image.View but init() returns Text.In there"),
    # missing / non-component return annotations
    ("def greet(name):\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     6, "step 'greet' has no return annotation"),
    ("import numpy\ndef greet(name) -> numpy.ndarray:\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     7, "return annotation ndarray is neither a feather component"),
    ("def greet(name) -> ftr.Text:\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     6, "Text is a component family, not a component"),
    ("def greet(name) -> dict:\n    pass\n\nftr.build(name='m', init=init, steps=[greet])\n",
     6, "the last step 'greet' must return at least one component"),
    # duplicate step names
    (GOOD_STEP + "def other(x) -> ftr.Text.View:\n    pass\n\nother.__name__ = 'greet'\n"
     "ftr.build(name='m', init=init, steps=[greet, other])\n", 9, "duplicate step name 'greet'"),
    # invalid props: in a step (static scan) and in init (when it runs)
    (GOOD_STEP + "def later(x) -> ftr.File.Download:\n    ftr.File.Upload(types=['.png'], min_files=3, max_files=2)\n\n"
     "ftr.build(name='m', init=init, steps=[greet, later])\n", 10, "max_files (2) < min_files (3)"),
    (GOOD_STEP + "def later(x) -> ftr.Text.View:\n    ftr.File.Upload(types=['exe'])\n\n"
     "ftr.build(name='m', init=init, steps=[greet, later])\n", 10, "file type 'exe' is not a file extension"),
    (GOOD_STEP + "def later(x) -> ftr.Text.View:\n    return ftr.Image.WithTextIn([], max_chars=0)\n\n"
     "ftr.build(name='m', init=init, steps=[greet, later])\n", 10, "max_chars must be a positive integer, got 0"),
    # others people hit
    (GOOD_STEP + "ftr.build(name='!?', init=init, steps=[greet])\n", 9, "cannot make a URL name from '!?'"),
    (GOOD_STEP, 1, "the model file never calls ftr.build"),
])
def test_inspect_errors_name_file_and_line(write_model, body, line, message):
    directory = write_model(HEAD + body)
    proc = feather("inspect", str(directory / "model.py"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    first = proc.stderr.strip().splitlines()[-1]
    assert first.startswith(f"{directory / 'model.py'}:{line}: "), first
    assert message in first, first


def test_inspect_error_for_invalid_props_in_init(write_model):
    directory = write_model("""\
        import feather as ftr
        n = 0
        def init():
            return ftr.Text.In(max_chars=n)
        def greet(name) -> ftr.Text.View:
            return ftr.Text.View("x")
        ftr.build(name="m", init=init, steps=[greet])
        """)
    proc = feather("inspect", str(directory))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{directory / 'model.py'}:4: invalid props: Text.In: max_chars must be a positive integer, got 0"


def test_building_never_runs_a_step(write_model):
    directory = write_model("""\
        import feather as ftr
        def init():
            return ftr.Text.In()
        def boom(name) -> ftr.Text.View:
            raise SystemExit("a step ran")
        ftr.build(name="m", init=init, steps=[boom])
        """)
    proc = feather("inspect", str(directory))
    assert proc.returncode == 0, proc.stderr

"""The dependency scan, and `python3 -m feather run` on both samples."""
from __future__ import annotations

import json

from conftest import REPO, feather
from feather import deps


def test_scan_maps_imports_to_distributions_minus_stdlib_and_own_modules(write_model):
    directory = write_model("""\
        import json, os.path
        from collections import OrderedDict
        import numpy as np
        import helpers
        from . import nothing
        import surely_not_installed_pkg
        import feather as ftr
        """, helpers_py="import PIL.Image\n")
    (directory / "helpers_py").rename(directory / "helpers.py")
    assert deps.imported_modules((directory / "model.py").read_text(), "model.py") == {
        "json", "os", "collections", "numpy", "helpers", "surely_not_installed_pkg", "feather"}
    env = deps.scan(["model.py", "helpers.py"], str(directory), ["requests>=2"], [])
    modules = {i["module"]: i for i in env["imports"]}
    assert set(modules) == {"numpy", "PIL", "surely_not_installed_pkg"}
    import numpy
    assert f"numpy=={numpy.__version__}" in env["python_packages"]
    assert "requests>=2" in env["python_packages"]
    assert modules["surely_not_installed_pkg"]["provided_by"] is None
    assert "not installed" in modules["surely_not_installed_pkg"]["note"]


def test_declared_system_package_covers_a_debian_module(write_model):
    directory = write_model("import numpy\n")
    env = deps.scan(["model.py"], str(directory), [], ["python3-numpy"])
    numpy_entry = env["imports"][0]
    assert numpy_entry["debian_package"] == "python3-numpy"
    assert numpy_entry["provided_by"] == "system_packages"
    assert env["python_packages"] == [] and env["system_packages"] == ["python3-numpy"]


def test_local_run_hello():
    proc = feather("run", str(REPO / "samples/hello/model.py"), "--inputs", str(REPO / "samples/hello/example-inputs.json"))
    assert proc.returncode == 0, proc.stderr
    assert "Hello, Ada!" in proc.stdout


def test_local_run_vqg_json_and_its_questions():
    proc = feather("run", str(REPO / "samples/vqg/model.py"), "--inputs",
                   str(REPO / "samples/vqg/example-inputs.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "succeeded" and [s["name"] for s in out["steps"]] == ["detect", "generate"]
    offered = out["steps"][0]["outputs"][0]["value"]["lists"]
    assert offered[0][0].endswith("face at top centre") and offered[1] == ["1: face in profile at top centre"]
    questions = out["steps"][1]["outputs"][0]["value"]["texts"]
    assert questions == ["Is the person with the face at the top centre looking at us with the eye at the top centre?",
                         "What is the person at the top centre doing?"]
    assert "detected [4, 1] objects" in proc.stderr


def test_local_run_reports_invalid_selection(tmp_path):
    inputs = json.loads((REPO / "samples/vqg/example-inputs.json").read_text())
    inputs["steps"][1] = {"objects": {"selected": [[0, 1, 2], [0]]}}
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    proc = feather("run", str(REPO / "samples/vqg"), "--inputs", str(tmp_path / "in.json"))
    assert proc.returncode == 1
    assert "invalid input 'objects': image 0: 3 items selected, at most 2 allowed" in proc.stderr

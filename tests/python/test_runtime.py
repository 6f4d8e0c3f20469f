"""`python3 -m feather.runtime` as a subprocess: the protocol of docs/contracts.md section 3."""
from __future__ import annotations

from conftest import run_runtime

MODEL = '''
import os, sys
import feather as ftr

def init():
    return ftr.Text.In(num_inputs=1, max_chars=10)

def offer(words: ftr.Text.In) -> tuple[ftr.List.SelectMulti, list[str]]:
    print("python-level print")
    os.write(1, b"C-level write to fd 1\\n")
    text = words.get()[0]
    if text == "boom":
        helper(text)
    if text == "wrong":
        return ftr.Text.View("not a list"), []
    if text == "notjson":
        return ftr.List.SelectMulti(["a"]), [object()]
    return ftr.List.SelectMulti(text.split(), max_selected=2), text.split()

def helper(text):
    raise ValueError(f"cannot handle {text}")

@ftr.step(outputs=["picked"])
def pick(choice, words: list) -> ftr.Text.View:
    return ftr.Text.View(choice.get() + [str(len(words))])

ftr.build(name="rt", init=init, steps=[offer, pick])
'''


def step0(directory, text):
    return run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 0,
                                   "responses": {"words": {"texts": [text]}}, "previous": None})


def test_success_keeps_stdout_for_json_and_model_prints_on_stderr(write_model):
    directory = write_model(MODEL)
    lines, stderr, rc = step0(directory, "a b c")
    assert rc == 0
    result = lines[-1]
    assert result["type"] == "result" and result["status"] == "succeeded"
    assert [o["name"] for o in result["outputs"]] == ["choice", "words"]
    assert result["outputs"][0]["value"] == {"items": ["a", "b", "c"], "preselected": []}
    assert result["outputs"][1] == {"name": "words", "component": "Json", "version": 1,
                                    "props": {"type": "list[str]"}, "value": ["a", "b", "c"]}
    assert "python-level print" in stderr and "C-level write to fd 1" in stderr

    # step 1 with the server-kept outputs and the client's selection
    lines, _, rc = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 1,
                                           "responses": {"choice": {"selected": [2, 0]}},
                                           "previous": result["outputs"]})
    assert rc == 0 and lines[-1]["status"] == "succeeded"
    assert lines[-1]["outputs"][0]["value"] == {"texts": ["c", "a", "3"]}


def test_exception_in_model_reports_type_message_and_model_frames(write_model):
    directory = write_model(MODEL)
    lines, _, rc = step0(directory, "boom")
    assert rc == 0
    error = lines[-1]["error"]
    assert lines[-1]["status"] == "failed" and error["type"] == "ValueError"
    assert error["message"] == "cannot handle boom"
    assert [(f["file"], f["function"]) for f in error["frames"]] == [("model.py", "offer"), ("model.py", "helper")]
    assert error["frames"][-1]["code"] == 'raise ValueError(f"cannot handle {text}")'


def test_outputs_not_matching_the_annotation_fail(write_model):
    directory = write_model(MODEL)
    lines, _, _ = step0(directory, "wrong")
    assert lines[-1]["status"] == "failed" and lines[-1]["error"]["type"] == "OutputMismatch"
    assert "output 'choice' is declared List.SelectMulti but the step returned Text.View" in lines[-1]["error"]["message"]
    lines, _, _ = step0(directory, "notjson")
    assert "output 'words' is declared list[str] (JSON)" in lines[-1]["error"]["message"]


def test_invalid_responses_name_the_input(write_model):
    directory = write_model(MODEL)
    lines, _, _ = step0(directory, "much too long")
    assert lines[-1] == {"type": "result", "status": "invalid_input",
                         "error": {"input": "words", "message": "text 0: 13 characters, at most 10 allowed"}}
    offered = step0(directory, "a b c")[0][-1]["outputs"]
    for responses, name, message in [
        ({"choice": {"selected": [0, 1, 2]}}, "choice", "3 items selected, at most 2 allowed"),
        ({"choice": {"selected": [7]}}, "choice", "index 7 is out of range"),
        ({}, "choice", "missing response for input 'choice'"),
        ({"choice": {"selected": [0]}, "words": ["x"]}, "words", "has no input 'words' that takes a response"),
    ]:
        lines, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 1,
                                              "responses": responses, "previous": offered})
        assert lines[-1]["status"] == "invalid_input", lines[-1]
        assert lines[-1]["error"]["input"] == name and message in lines[-1]["error"]["message"]
    # a forged 'previous' whose JSON value does not fit the declared type
    forged = [offered[0], {**offered[1], "value": {"not": "a list"}}]
    lines, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 1,
                                          "responses": {"choice": {"selected": [0]}}, "previous": forged})
    assert lines[-1]["error"] == {"input": "words", "message": "value does not match its declared type list[str]"}


def test_bad_requests_give_a_result_not_a_crash(write_model):
    directory = write_model(MODEL)
    for request, message in [({"protocol": 3}, "unsupported protocol 3"),
                                 ({"protocol": 2, "entrypoint": "model.py", "step": 0}, "file area"),
                             ({"protocol": 1, "entrypoint": "model.py", "step": 9}, "step 9 does not exist")]:
        lines, _, rc = run_runtime(directory, request)
        assert rc == 0 and lines[-1]["status"] == "failed" and message in lines[-1]["error"]["message"]


FILES_MODEL = '''
import feather as ftr

def init():
    return ftr.File.Upload(types=[".pt"], max_files=1)

def echo(files: ftr.File.Upload) -> ftr.File.Download:
    blob = files.get()[0]
    assert blob.path is not None and blob.path.endswith("/in/abc"), blob.path
    return ftr.File.Download([blob, b"tail"], output_filenames=["back.pt", "tail.bin"])

ftr.build(name="files", init=init, steps=[echo])
'''


def test_protocol_2_reads_inputs_and_writes_outputs_in_the_file_area(write_model, tmp_path):
    """Files travel as paths in the step's file area, never as base64 in the request or the result."""
    directory = write_model(FILES_MODEL)
    area = tmp_path / "io"
    (area / "in").mkdir(parents=True)
    (area / "out").mkdir()
    payload = bytes(range(256)) * 4096
    (area / "in" / "abc").write_bytes(payload)
    lines, stderr, rc = run_runtime(directory, {
        "protocol": 2, "entrypoint": "model.py", "step": 0, "files": str(area), "previous": None,
        "responses": {"files": {"files": [{"name": "w.pt", "media_type": "application/octet-stream", "path": "in/abc"}]}}})
    assert rc == 0 and lines[-1]["status"] == "succeeded", (lines, stderr)
    files = lines[-1]["outputs"][0]["value"]["files"]
    assert [f["name"] for f in files] == ["back.pt", "tail.bin"]
    assert all("data" not in f for f in files)
    assert (area / files[0]["path"]).read_bytes() == payload
    assert (area / files[1]["path"]).read_bytes() == b"tail"

    # a path that leaves the file area is refused as invalid input
    lines, _, rc = run_runtime(directory, {
        "protocol": 2, "entrypoint": "model.py", "step": 0, "files": str(area), "previous": None,
        "responses": {"files": {"files": [{"name": "w.pt", "media_type": "application/octet-stream", "path": "../../etc/passwd"}]}}})
    assert rc == 0 and lines[-1]["status"] == "invalid_input" and "not a file of the step's file area" in lines[-1]["error"]["message"]

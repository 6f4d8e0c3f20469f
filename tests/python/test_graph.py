"""The graph of steps in the SDK: branches, bounded loops and `then`; inspect records the graph (schema_version 2)
and reports each broken graph with file and line; the runtime reports the branch a step took; local runs follow
the graph (docs/sdk.md, "Branches and loops")."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, feather, run_runtime
from feather import _jsonschema
from feather.metadata import inspect_path, load_schema

HEAD = "import feather as ftr\n\ndef init():\n    return ftr.Text.In(title='Name')\n\n"

#: classify --confident--> end; --unsure--> refine (loop, at most 3) --done--> finish --> end
GRAPH = HEAD + '''
@ftr.step("Classify", branches={"confident": ftr.END, "unsure": "refine"})
def classify(name: ftr.Text.In) -> tuple[ftr.Text.View, ftr.Text.In]:
    text = name.get()[0]
    which = "confident" if text == "sure" else "unsure"
    return ftr.branch(which, ftr.Text.View(which), ftr.Text.In(default_text=text))

@ftr.step("Refine", loop=3, then="finish")
def refine(shown: ftr.Text.View, answer: ftr.Text.In) -> tuple[ftr.Text.View, ftr.Text.In]:
    text = answer.get()[0]
    if text == "ok":
        return ftr.done(ftr.Text.View("accepted"), ftr.Text.In(default_text=text))
    return ftr.Text.View("again: " + text), ftr.Text.In(default_text=text)

@ftr.step("Finish")
def finish(shown: ftr.Text.View, answer: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View("final: " + answer.get()[0])

ftr.build(name="graph-demo", init=init, steps=[classify, refine, finish])
'''


def texts(text: str) -> dict:
    return {"texts": [text]}


def test_inspect_records_the_graph_with_schema_version_2(write_model):
    metadata = inspect_path(str(write_model(GRAPH)), scan_environment=False)
    assert _jsonschema.errors(metadata, load_schema()) == []
    assert metadata["schema_version"] == 2
    assert metadata["graph"] == {
        "start": "classify",
        "edges": [{"from": "classify", "to": None, "when": "confident"},
                  {"from": "classify", "to": "refine", "when": "unsure"},
                  {"from": "refine", "to": "refine", "when": "again"},
                  {"from": "refine", "to": "finish", "when": "done"},
                  {"from": "finish", "to": None, "when": None}],
        "loops": [{"step": "refine", "max": 3}],
    }
    # outputs are named by the parameters of the steps that follow
    assert [o["name"] for o in metadata["steps"][0]["outputs"]] == ["shown", "answer"]
    assert [i["name"] for i in metadata["steps"][1]["inputs"]] == ["shown", "answer"]


def test_linear_models_keep_schema_version_1_and_no_graph():
    for sample in ("hello", "image-tools", "vqg"):
        metadata = inspect_path(str(REPO / "samples" / sample), scan_environment=False)
        assert metadata["schema_version"] == 1 and "graph" not in metadata


def test_old_linear_metadata_stays_valid_and_a_graph_needs_version_2(write_model):
    schema = load_schema()
    linear = inspect_path(str(REPO / "samples" / "hello"), scan_environment=False)
    assert _jsonschema.errors(linear, schema) == []
    graph = inspect_path(str(write_model(GRAPH)), scan_environment=False)
    graph["graph"]["loops"] = [{"step": "refine"}]  # a loop without its bound
    assert _jsonschema.errors(graph, schema)


@pytest.mark.parametrize("steps, line, message", [
    # a branch to a step that does not exist
    ('@ftr.step(branches={"a": "nowhere", "b": ftr.END})\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first])\n",
     7, "branch 'a' goes to 'nowhere', which is not a step of the model"),
    ('@ftr.step(then="nowhere")\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first])\n",
     7, "then goes to 'nowhere', which is not a step"),
    # a step no path reaches
    ('@ftr.step(then=ftr.END)\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     'def orphan(x) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first, orphan])\n",
     10, "step 'orphan' is not reachable"),
    # a loop without a bound: loop=True, and a cycle through branches
    ('@ftr.step(loop=True)\ndef first(name: ftr.Text.In) -> ftr.Text.In:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first])\n",
     7, "a loop needs a bound"),
    ('@ftr.step(branches={"more": "second", "stop": ftr.END})\ndef first(name) -> ftr.Text.In:\n    pass\n\n'
     '@ftr.step(then="first")\ndef second(name) -> ftr.Text.In:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first, second])\n",
     7, "steps first -> second -> first form a loop without a bound"),
    # types that do not match along an edge: the branch's target takes another component
    ('@ftr.step(branches={"a": "second", "b": ftr.END})\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     'def second(image: ftr.Image.View) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first, second])\n",
     10, "step 'second': parameter 'image' is annotated Image.View but step 'first' (branch 'a') returns Text.View"),
    # a loop step's outputs must fit its own parameters
    ('@ftr.step(loop=4, then=ftr.END)\ndef first(name: ftr.Text.In) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first])\n",
     7, "parameter 'name' is annotated Text.In but step 'first' (branch 'again') returns Text.View"),
    # the steps after a branching step receive the same outputs: their parameters must be named alike
    ('@ftr.step(branches={"a": "second", "b": "third"})\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     '@ftr.step(then=ftr.END)\ndef second(x) -> ftr.Text.View:\n    pass\n\n'
     'def third(y) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first, second, third])\n",
     7, "the steps that may follow 'first' must name their parameters alike"),
    ('@ftr.step(branches={"Bad Name": ftr.END})\ndef first(name) -> ftr.Text.View:\n    pass\n\n'
     "ftr.build(name='m', init=init, steps=[first])\n",
     7, "branch name 'Bad Name' must match"),
])
def test_inspect_reports_each_broken_graph_with_file_and_line(write_model, steps, line, message):
    directory = write_model(HEAD + steps)
    proc = feather("inspect", str(directory / "model.py"))
    assert proc.returncode == 1, proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{directory / 'model.py'}:{line}: "), last
    assert message in last, last


def test_the_runtime_reports_the_branch_a_step_took(write_model):
    directory = write_model(GRAPH)
    lines, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 0,
                                          "responses": {"name": texts("hmm")}, "previous": None})
    result = lines[-1]
    assert result["status"] == "succeeded" and result["branch"] == "unsure"
    # a loop iteration runs on the outputs of the iteration before (previous), and reports again or done
    again, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 1,
                                          "responses": {"answer": texts("more")}, "previous": result["outputs"]})
    assert again[-1]["branch"] == "again"
    done, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 1,
                                         "responses": {"answer": texts("ok")}, "previous": again[-1]["outputs"]})
    assert done[-1]["branch"] == "done" and done[-1]["outputs"][0]["value"]["texts"] == ["accepted"]
    # a linear step reports no branch
    final, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 2,
                                          "responses": {"answer": texts("ok")}, "previous": done[-1]["outputs"]})
    assert "branch" not in final[-1]


def test_a_branching_step_that_returns_no_declared_branch_fails_with_output_mismatch(write_model):
    directory = write_model(GRAPH.replace('which = "confident" if text == "sure" else "unsure"', 'which = "maybe"'))
    lines, _, _ = run_runtime(directory, {"protocol": 1, "entrypoint": "model.py", "step": 0,
                                          "responses": {"name": texts("x")}, "previous": None})
    assert lines[-1]["status"] == "failed" and lines[-1]["error"]["type"] == "OutputMismatch"
    assert "returned branch 'maybe'; it declares confident, unsure" in lines[-1]["error"]["message"]


def write_inputs(tmp_path, inputs: dict):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(inputs))
    return path


def test_a_local_run_follows_the_path_the_inputs_file_names(write_model, tmp_path):
    directory = write_model(GRAPH)
    inputs = write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"name": texts("hmm")}},
        {"step": "refine", "responses": {"answer": texts("more")}},
        {"step": "refine", "responses": {"answer": texts("still")}},
        {"step": "finish", "responses": {"answer": texts("yes")}},  # the user leaves the loop
    ]})
    proc = feather("run", str(directory), "--inputs", str(inputs), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["path"] == ["classify", "refine", "refine", "finish"]
    assert [s.get("iteration") for s in report["steps"]] == [1, 1, 2, 1]
    assert report["steps"][-1]["outputs"][0]["value"]["texts"] == ["final: yes"]


def test_a_local_run_ends_on_the_confident_branch_and_refuses_a_path_the_model_does_not_offer(write_model, tmp_path):
    directory = write_model(GRAPH)
    ok = feather("run", str(directory), "--inputs",
                 str(write_inputs(tmp_path, {"path": [{"step": "classify", "responses": {"name": texts("sure")}}]})))
    assert ok.returncode == 0, ok.stderr
    assert "branch 'confident'" in ok.stdout and "next: the end" in ok.stdout
    wrong = feather("run", str(directory), "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"name": texts("sure")}},
        {"step": "refine", "responses": {"answer": texts("x")}}]})))
    assert wrong.returncode == 1
    assert "path[1] names step 'refine', but after 'classify' the model offers nothing (the run ended)" in wrong.stderr
    # the loop's bound: a 4th iteration in a row is not offered
    bound = feather("run", str(directory), "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"name": texts("hmm")}}] +
        [{"step": "refine", "responses": {"answer": texts(str(i))}} for i in range(4)]})))
    assert bound.returncode == 1
    assert "path[4] names step 'refine', but after 'refine' the model offers 'finish'" in bound.stderr


def test_the_samples_run_locally_through_both_branches_and_a_loop(tmp_path):
    for sample in ("digit-check", "blur-refine"):
        proc = feather("run", str(REPO / "samples" / sample), "--inputs",
                       str(REPO / "samples" / sample / "example-inputs.json"), "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        if sample == "digit-check":
            assert report["path"] == ["classify", "choose"] and report["steps"][0]["branch"] == "unsure"
        else:
            assert report["path"] == ["start", "refine", "refine", "refine", "save"]
            assert [s.get("branch") for s in report["steps"][1:4]] == ["again", "again", "done"]
    image = __import__("base64").b64encode((REPO / "samples/digit-check/images/digit-0.png").read_bytes()).decode()
    confident = feather("run", str(REPO / "samples" / "digit-check"), "--json", "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"image": {"files": [{"name": "digit-0.png", "media_type": "image/png", "data": image}]}}}]})))
    assert confident.returncode == 0, confident.stderr
    report = json.loads(confident.stdout)
    assert report["steps"][0]["branch"] == "confident"
    assert report["steps"][0]["outputs"][0]["value"]["texts"] == ["0 (97% sure)"]


def _doc_examples() -> list[str]:
    text = (REPO / "docs" / "sdk.md").read_text()
    section = text[text.index("## Branches and loops"):text.index("## The step runtime")]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_the_examples_in_docs_sdk_md_inspect_and_run(write_model, tmp_path):
    branch, loop = _doc_examples()
    directory = write_model(branch)
    assert inspect_path(str(directory), scan_environment=False)["graph"]["edges"][1] == \
        {"from": "classify", "to": "choose", "when": "unsure"}
    unsure = feather("run", str(directory), "--json", "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"sentence": texts("good and bad")}},
        {"step": "choose", "responses": {"labels": {"selected": 2}}}]})))
    assert unsure.returncode == 0, unsure.stderr
    assert json.loads(unsure.stdout)["steps"][-1]["outputs"][0]["value"]["texts"] == ["You say it is neutral."]
    sure = feather("run", str(directory), "--json", "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "classify", "responses": {"sentence": texts("a great day")}}]})))
    assert json.loads(sure.stdout)["steps"][0]["branch"] == "confident"

    loop_dir = tmp_path / "loop"
    loop_dir.mkdir()
    (loop_dir / "model.py").write_text(loop)
    image = __import__("base64").b64encode((REPO / "samples/blur-refine/images/cameraman.jpg").read_bytes()).decode()
    run = feather("run", str(loop_dir), "--json", "--inputs", str(write_inputs(tmp_path, {"path": [
        {"step": "start", "responses": {"upload": {"files": [{"name": "c.jpg", "media_type": "image/jpeg", "data": image}]}}},
        {"step": "refine", "responses": {"current": {"selected": [1]}}},
        {"step": "refine", "responses": {"current": {"selected": [5]}}},
        {"step": "save", "responses": {"current": {"selected": [5]}}}]})))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["path"] == ["start", "refine", "refine", "save"]
    assert report["steps"][2]["branch"] == "done"

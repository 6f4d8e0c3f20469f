"""The contract suite for ftr.Client: the SDK client against the REAL feather-server (built by
`dotnet build`, real LiteDB file, real Docker runner) with tests/models/contract published as
admin/contract (see real_server.py). tests/Feather.Cli.Tests/CliAgainstServerTests.cs runs the
CLI against the same server and model."""
from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import feather as ftr
from conftest import REPO
from real_server import MODEL


@pytest.fixture
def client(real_server) -> ftr.Client:
    return ftr.Client(real_server.url, token=real_server.token, poll_interval=0.2)


def name(text: str) -> dict:
    return {"name": {"texts": [text]}}


def test_models_and_a_model_with_its_live_version(client):
    assert "admin/contract" in [f"{m['owner']}/{m['name']}" for m in client.models()]
    model = client.model(MODEL)
    assert model["liveVersion"] == 1 and [v["number"] for v in model["versions"]] == [1]


def test_a_run_blocks_on_each_step_and_keeps_the_previous_outputs(client):
    run = client.run(MODEL)
    assert run.version == 1 and [s["status"] for s in run.steps] == ["awaiting_input", "pending"]
    assert run.step(0, name("Ada"), timeout=120)[0]["value"]["texts"] == ["Hello, Ada!"]
    outputs = run.submit(1, {}).result(timeout=120)
    assert outputs[0]["name"] == "echo" and outputs[0]["value"]["texts"] == ["Hello, Ada! Again!"]
    resumed = client.get_run(run.id)
    assert [s["status"] for s in resumed.steps] == ["succeeded", "succeeded"]


def test_submit_returns_at_once_and_events_follow_status_logs_and_result(client):
    run = client.run(f"{MODEL}@1")
    handle = run.submit(0, name("Bo"))
    assert handle.status in ftr.client.PENDING or handle.status == "succeeded"
    events = list(handle.events(timeout=120))
    assert events[0]["type"] == "status" and events[-1]["type"] == "result"
    assert events[-1]["step"]["status"] == "succeeded"
    assert "greeting Bo" in "".join(e["text"] for e in events if e["type"] == "log") + handle.logs


def test_events_come_from_the_servers_event_stream_not_from_polling(client, monkeypatch):
    handle = client.run(MODEL).submit(0, name("Di"))

    def no_polling(*_args, **_kwargs):
        raise AssertionError("events() polled the step instead of following its event stream")

    monkeypatch.setattr(handle, "poll", no_polling)
    events = list(handle.events(timeout=120))
    assert [e["status"] for e in events if e["type"] == "status"][-1] == "succeeded"
    assert events[-1]["type"] == "result" and events[-1]["step"]["outputs"][0]["value"]["texts"] == ["Hello, Di!"]
    assert handle.state["status"] == "succeeded"


def test_prefer_wait_answers_the_finished_step_in_one_call(client):
    run = client.run(MODEL, version=1)
    handle = run.submit(0, name("Cy"), wait=60)
    assert handle.status == "succeeded" and handle.done()
    assert handle.result()[0]["value"]["texts"] == ["Hello, Cy!"]


def test_the_responses_last_submitted_come_back(client):
    run = client.run(MODEL)
    run.step(0, name("Di"), timeout=120)
    assert run.responses(0) == name("Di")
    with pytest.raises(ftr.ApiError) as info:
        run.responses(1)
    assert info.value.status == 404 and "has not been submitted" in info.value.detail


def test_execute_starts_a_run_and_submits_step_0_in_one_call(client):
    handle = client.execute(MODEL, name("Ed"), wait=60)
    assert handle.index == 0 and handle.run.owner == "admin" and handle.run.model == "contract"
    assert handle.result(timeout=120)[0]["value"]["texts"] == ["Hello, Ed!"]
    assert client.get_run(handle.run.id).steps[0]["status"] == "succeeded"


def test_cancel_stops_a_running_step_through_the_servers_cancel_route(client):
    run = client.run(MODEL)
    handle = run.submit(0, name("slow"))
    deadline = time.monotonic() + 120
    while handle.poll()["status"] != "running":
        assert time.monotonic() < deadline, f"step 0 never started: {handle.state}"
        time.sleep(0.2)
    with pytest.raises(TimeoutError, match="still running"):
        handle.result(timeout=0.5)
    started = time.monotonic()
    run.cancel()  # finds the running step and sends DELETE /api/runs/{id}/steps/0
    with pytest.raises(ftr.StepFailed) as info:
        handle.result(timeout=30)
    assert info.value.status == "cancelled" and time.monotonic() - started < 30  # not the model's 60 s sleep
    assert client.get_run(run.id).steps[0]["status"] == "cancelled"
    with pytest.raises(ftr.ApiError) as again:  # the server refuses to cancel a step that has ended
        run.cancel(0)
    assert again.value.status == 409 and "not queued or running" in again.value.detail
    with pytest.raises(ftr.ApiError) as nothing:
        run.cancel()
    assert nothing.value.status == 409


def test_a_step_handle_cancels_its_own_step(client):
    handle = client.run(MODEL).submit(0, name("slow"))
    deadline = time.monotonic() + 120
    while handle.poll()["status"] != "running":
        assert time.monotonic() < deadline, f"step 0 never started: {handle.state}"
        time.sleep(0.2)
    assert handle.cancel()["index"] == 0
    with pytest.raises(ftr.StepFailed) as info:
        handle.result(timeout=30)
    assert info.value.status == "cancelled"


def test_a_failed_step_raises_step_failed_with_type_frames_and_logs(client):
    run = client.run(MODEL)
    with pytest.raises(ftr.StepFailed) as info:
        run.step(0, name("fail"), timeout=120)
    err = info.value
    assert (err.status, err.type, err.message) == ("failed", "ValueError", "no greeting for fail")
    assert err.frames[-1]["file"] == "model.py" and err.frames[-1]["function"] == "greet"
    assert "greeting fail" in err.logs and not isinstance(err, ftr.InvalidInput)


def test_refused_responses_are_problem_details_naming_the_input(client):
    run = client.run(MODEL)
    with pytest.raises(ftr.ApiError) as info:
        run.submit(0, name("x" * 65))
    err = info.value
    assert err.status in (400, 422) and "name" in str(err.errors or err.detail)


def test_errors_are_problem_details(client, real_server):
    with pytest.raises(ftr.ApiError) as info:
        client.run(MODEL, version=7)
    assert info.value.status == 404 and "no version or tag '7'" in info.value.detail
    with pytest.raises(ftr.ApiError) as info:
        client.run("admin/nope")
    assert info.value.status == 404 and info.value.title
    run = client.run(MODEL)
    with pytest.raises(ftr.ApiError) as info:
        run.submit(1, {})
    assert info.value.status == 409 and info.value.title == "Conflict"
    with pytest.raises(ftr.ApiError) as info:
        client.get_run("no-such-run")
    assert info.value.status == 404 and "no run 'no-such-run'" in info.value.detail
    with pytest.raises(ftr.ApiError) as info:
        ftr.Client(real_server.url, token="ftr_wrong").run(MODEL)
    assert info.value.status == 401


def test_runs_in_threads_at_once(client):
    names = ["Ada", "Grace", "Barbara"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda n: client.run(MODEL).step(0, name(n), timeout=120), names))
    assert [r[0]["value"]["texts"][0] for r in results] == [f"Hello, {n}!" for n in names]


def test_bad_references_and_urls_are_refused_before_any_call():
    client = ftr.Client("http://127.0.0.1:9")
    for bad in ("hello", "ada/", "ada/hello@", "a/b/c"):
        with pytest.raises(ValueError, match="OWNER/MODEL"):
            client.run(bad)
    with pytest.raises(ValueError, match="two versions"):
        client.run("ada/hello@2", version=3)
    with pytest.raises(ValueError, match="http://host:port"):
        ftr.Client("localhost:8080")
    with pytest.raises(ValueError, match="no operation"):
        ftr.client.route("cancelRun", {})


def test_an_unreachable_server():
    with pytest.raises(ftr.ServerUnreachable, match="cannot reach the server"):
        ftr.Client("http://127.0.0.1:9", timeout=5).models()


def test_file_payload_and_save(tmp_path):
    digit = REPO / "samples/image-classifier/images/digit-3.png"
    payload = ftr.Client.file(digit)
    assert (payload["name"], payload["media_type"]) == ("digit-3.png", "image/png")
    assert base64.b64decode(payload["data"]) == digit.read_bytes()
    assert ftr.Client.file(digit, name="three.jpg")["media_type"] == "image/jpeg"
    offline = ftr.Client("http://127.0.0.1:9")
    saved = offline.save({"name": "../../evil.txt", "media_type": "text/plain",
                          "data": base64.b64encode(b"hi").decode()}, tmp_path)
    assert Path(saved) == tmp_path / "evil.txt" and Path(saved).read_bytes() == b"hi"
    with pytest.raises(ValueError, match="cannot save"):
        offline.save({"name": "..", "media_type": "x", "data": ""}, tmp_path)


def test_data_and_save_still_work_on_the_class_as_before_step_files(tmp_path):
    """Client.data/save were static methods: old code calling them on the class keeps working for inline payloads,
    and a file the server keeps (by URL) says to use a client instead of failing obscurely."""
    blob = {"name": "notes.txt", "media_type": "text/plain", "data": base64.b64encode(b"kept").decode()}
    assert ftr.Client.data(blob) == b"kept"
    saved = ftr.Client.save(blob, tmp_path)
    assert Path(saved) == tmp_path / "notes.txt" and Path(saved).read_bytes() == b"kept"
    remote = {"name": "out.bin", "media_type": "application/octet-stream", "file": "ab12cd34", "size": 3,
              "url": "/api/runs/ab12cd34/files/ab12cd34"}
    with pytest.raises(ValueError, match=r"client\.data\(blob\)"):
        ftr.Client.data(remote)
    with pytest.raises(ValueError, match=r"client\.download"):
        ftr.Client.save(remote, tmp_path)


def test_finetune_reaches_the_api_and_a_bad_request_is_an_api_error_naming_why(client):
    # the contract model declares no training function and there is no such dataset: 404 names the dataset first
    with pytest.raises(ftr.ApiError) as error:
        client.finetune("admin/contract", "admin/no-such-dataset", {"epochs": 1})
    assert error.value.status == 404 and "no dataset admin/no-such-dataset" in str(error.value)
    with pytest.raises(ftr.ApiError) as error:
        client.finetune_job("ft-00000000")
    assert error.value.status == 404 and "no fine-tune job ft-00000000" in str(error.value)
    with pytest.raises(ValueError):
        client.finetune("admin/contract@1", "admin/x", version=2)

"""ftr.Client against a real HTTP server on 127.0.0.1 that implements the routes of
docs/contracts.md section 5 the client calls, and runs each step with the real step runtime
(`python3 -m feather.runtime` in a subprocess), keeping the previous step's outputs itself."""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import feather as ftr
from conftest import REPO, feather

TOKEN = "ftr_test_secret"


class FeatherFixture(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, models: dict[str, Path]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.models: dict[str, dict[str, Any]] = {}
        for ref, directory in models.items():
            proc = feather("inspect", str(directory))
            assert proc.returncode == 0, proc.stderr
            self.models[ref] = {"directory": directory, "metadata": json.loads(proc.stdout)}
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0  # seconds a step stays queued
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for r in self.requests if r["method"] == method and re.fullmatch(pattern, r["path"]))

    def execute(self, run: dict[str, Any], index: int, responses: dict[str, Any]) -> None:
        step = run["steps"][index]
        time.sleep(self.delay)
        with self.lock:
            if step["status"] != "queued":  # cancelled meanwhile
                return
            step["status"], step["startedAt"] = "running", time.time()
        model = self.models[run["ref"]]
        previous = run["steps"][index - 1]["outputs"] if index > 0 else None
        request = {"protocol": 1, "entrypoint": "model.py", "step": index, "responses": responses, "previous": previous}
        proc = feather(cwd=model["directory"], stdin=json.dumps(request), module="feather.runtime")
        result = json.loads(proc.stdout.splitlines()[-1])
        with self.lock:
            if step["status"] != "running":
                return
            step.update(status=result["status"], outputs=result.get("outputs"), error=result.get("error"),
                        logs=proc.stderr, endedAt=time.time())
            step["done"].set()


def _public(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k != "done"}


class Handler(BaseHTTPRequestHandler):
    server: FeatherFixture

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _problem(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self._send(status, {"title": title, "detail": detail, "status": status, **extra}, "application/problem+json")

    def _run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        return {"id": run["id"], "owner": run["owner"], "model": run["model"], "version": run["version"],
                "steps": [_public(s) for s in run["steps"]]}

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append({"method": method, "path": self.path, "headers": dict(self.headers), "body": body})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._problem(401, "Unauthorized", "send Authorization: Bearer <token>; create one with feather login")
        srv, path = self.server, self.path
        if method == "GET" and path == "/api/models":
            return self._send(200, [{"owner": r.split("/")[0], "name": r.split("/")[1], "description": m["metadata"]["description"],
                                     "liveVersion": 1, "visibility": "public", "tags": []} for r, m in srv.models.items()])
        if m := re.fullmatch(r"/api/models/([^/]+)/([^/]+)/runs", path):
            ref = f"{m[1]}/{m[2]}"
            if ref not in srv.models:
                return self._problem(404, "Not Found", f"model {ref} does not exist")
            version = (body or {}).get("version", "1")
            if version not in ("1", "stable"):
                return self._problem(404, "Not Found", f"{ref} has no version or tag {version!r}")
            run = {"id": uuid.uuid4().hex[:12], "ref": ref, "owner": m[1], "model": m[2], "version": 1,
                   "steps": [{"index": i, "name": s["name"], "status": "awaiting_input", "outputs": None, "error": None,
                              "logs": "", "startedAt": None, "endedAt": None, "done": threading.Event()}
                             for i, s in enumerate(srv.models[ref]["metadata"]["steps"])]}
            srv.runs[run["id"]] = run
            return self._send(201, self._run_json(run))
        if m := re.fullmatch(r"/api/runs/([^/]+)(/cancel|/steps/(\d+))?", path):
            run = srv.runs.get(m[1])
            if run is None:
                return self._problem(404, "Not Found", f"run {m[1]} does not exist")
            if method == "GET" and m[2] is None:
                with srv.lock:
                    return self._send(200, self._run_json(run))
            if method == "POST" and m[2] == "/cancel":
                with srv.lock:
                    for step in run["steps"]:
                        if step["status"] in ("queued", "running"):
                            step.update(status="cancelled", error={"type": "Cancelled", "message": "cancelled by the user"})
                            step["done"].set()
                    return self._send(200, self._run_json(run))
            if method == "POST" and m[3] is not None:
                index = int(m[3])
                if index >= len(run["steps"]):
                    return self._problem(404, "Not Found", f"the model has {len(run['steps'])} steps")
                if index > 0 and run["steps"][index - 1]["status"] != "succeeded":
                    return self._problem(409, "Conflict", f"step {index - 1} has not succeeded", step=index)
                step = run["steps"][index]
                with srv.lock:
                    step.update(status="queued", outputs=None, error=None, logs="", startedAt=None, endedAt=None)
                    step["done"] = threading.Event()
                threading.Thread(target=srv.execute, args=(run, index, body["responses"]), daemon=True).start()
                wait = re.fullmatch(r"wait=(\d+)", self.headers.get("Prefer") or "")
                if wait:
                    step["done"].wait(int(wait[1]))
                with srv.lock:
                    return self._send(200 if step["status"] not in ("queued", "running") else 202, _public(step))
        return self._problem(404, "Not Found", f"no route {method} {path}")


@pytest.fixture
def server(tmp_path: Path):
    crash = tmp_path / "crash"
    crash.mkdir()
    (crash / "model.py").write_text(
        "import feather as ftr\n\n"
        "def init():\n    return ftr.Text.In(default_text='1')\n\n"
        "@ftr.step()\n"
        "def divide(n: ftr.Text.In) -> ftr.Text.View:\n"
        "    print('dividing by zero now')\n"
        "    return ftr.Text.View(str(int(n.get()[0]) / 0))\n\n"
        "ftr.build(name='crash', init=init, steps=[divide])\n")
    srv = FeatherFixture({"ada/hello": REPO / "samples/hello", "ada/text-tools": REPO / "samples/text-tools",
                          "ada/crash": crash})
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server: FeatherFixture) -> ftr.Client:
    return ftr.Client(server.url, token=TOKEN, poll_interval=0.05)


def test_models_sends_the_bearer_token(server, client):
    models = client.models()
    assert sorted(m["name"] for m in models) == ["crash", "hello", "text-tools"]
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_problem_details_become_an_api_error(server):
    with pytest.raises(ftr.ApiError) as info:
        ftr.Client(server.url, token="wrong").models()
    err = info.value
    assert isinstance(err, ftr.FeatherError)
    assert (err.status, err.title) == (401, "Unauthorized")
    assert err.detail == "send Authorization: Bearer <token>; create one with feather login"
    assert "401 Unauthorized" in str(err)


def test_a_one_step_run_blocks_until_the_step_ends(server, client):
    server.delay = 0.2
    run = client.run("ada/hello")
    assert (run.owner, run.model, [s["name"] for s in run.steps]) == ("ada", "hello", ["greet"])
    outputs = run.step(0, {"name": {"texts": ["Grace"]}})
    assert outputs == [{"name": "greeting", "component": "Text.View", "version": 1,
                        "props": {"title": "Greeting", "description": None}, "value": {"texts": ["Hello, Grace!"]}}]
    submit = [r for r in server.requests if r["method"] == "POST" and r["path"].endswith("/steps/0")][0]
    assert "Prefer" not in submit["headers"] and submit["body"] == {"responses": {"name": {"texts": ["Grace"]}}}
    assert server.count("GET", rf"/api/runs/{run.id}") >= 2  # it polled while the step was queued


def test_submit_returns_at_once_and_events_follow_the_step(server, client):
    server.delay = 0.3
    run = client.run("ada/text-tools")
    started = time.monotonic()
    handle = run.submit(0, {"text": {"texts": ["Containers isolate steps. Containers start fast. Steps end."]}})
    assert time.monotonic() - started < 0.25 and handle.status == "queued"
    events = list(handle.events(timeout=30))
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert any(e["type"] == "log" and "8 words, 3 sentences" in e["text"] for e in events)
    assert events[-1]["type"] == "result"
    outputs = handle.result()
    assert outputs[0]["value"]["items"] == ["containers (2)", "steps (2)", "end (1)", "fast (1)", "isolate (1)", "start (1)"]
    assert "8 words, 3 sentences" in handle.logs


def test_a_multi_step_run_with_a_download(server, client, tmp_path):
    run = client.run("ada/text-tools@stable")
    assert server.requests[-1]["body"] == {"version": "stable"}
    run.step(0, {"text": {"texts": ["Containers isolate steps. Containers start fast. Steps end."]}})
    outputs = run.step(1, {"keywords": {"selected": [1, 0]}, "format": {"selected": 1}}, timeout=30)
    report = {o["name"]: o for o in outputs}["report"]
    assert report["component"] == "File.Download"
    path = ftr.Client.save(report["value"]["files"][0], tmp_path)
    assert Path(path).name == "keywords.json"
    assert [(r["word"], r["count"]) for r in json.loads(Path(path).read_text())] == [("containers", 2), ("steps", 2)]


def test_invalid_input_names_the_input(server, client):
    run = client.run("ada/text-tools")
    run.step(0, {"text": {"texts": ["Alpha beta gamma delta epsilon zeta eta theta."]}})
    with pytest.raises(ftr.InvalidInput) as info:
        run.step(1, {"keywords": {"selected": [0, 1, 2, 3, 4, 5]}, "format": {"selected": 0}})
    err = info.value
    assert isinstance(err, ftr.StepFailed) and err.status == "invalid_input" and err.index == 1
    assert err.input == "keywords" and "at most 5" in err.message
    assert str(err).startswith("step 1: invalid input 'keywords': ")


def test_step_failed_carries_type_message_frames_and_logs(server, client):
    run = client.run("ada/crash")
    with pytest.raises(ftr.StepFailed) as info:
        run.step(0, {"n": {"texts": ["4"]}})
    err = info.value
    assert (err.status, err.type, err.message) == ("failed", "ZeroDivisionError", "division by zero")
    assert err.frames[-1]["file"] == "model.py" and err.frames[-1]["function"] == "divide"
    assert "dividing by zero now" in err.logs
    assert "model.py:" in str(err) and "ZeroDivisionError: division by zero" in str(err)


def test_prefer_wait_gets_the_result_in_one_call(server, client):
    run = client.run("ada/hello")
    gets_before = server.count("GET", rf"/api/runs/{run.id}")
    handle = run.submit(0, {"name": {"texts": ["Ada"]}}, wait=30)
    assert server.requests[-1]["headers"]["Prefer"] == "wait=30"
    assert handle.status == "succeeded"
    assert handle.result()[0]["value"]["texts"] == ["Hello, Ada!"]
    assert server.count("GET", rf"/api/runs/{run.id}") == gets_before  # no polling was needed


def test_result_times_out_and_cancel_ends_the_step(server, client):
    server.delay = 2.0
    run = client.run("ada/hello")
    handle = run.submit(0, {"name": {"texts": ["Ada"]}})
    with pytest.raises(TimeoutError, match="still queued"):
        handle.result(timeout=0.2)
    run.cancel()
    with pytest.raises(ftr.StepFailed) as info:
        handle.result(timeout=5)
    assert info.value.status == "cancelled" and info.value.message == "cancelled by the user"


def test_runs_in_threads_at_once(server, client):
    names = ["Ada", "Grace", "Barbara", "Frances"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: client.run("ada/hello").step(0, {"name": {"texts": [n]}}, timeout=60), names))
    assert [r[0]["value"]["texts"][0] for r in results] == [f"Hello, {n}!" for n in names]


def test_errors_for_unknown_versions_steps_out_of_order_and_bad_references(server, client):
    with pytest.raises(ftr.ApiError) as info:
        client.run("ada/hello", version=7)
    assert info.value.status == 404 and "no version or tag '7'" in info.value.detail
    run = client.run("ada/text-tools")
    with pytest.raises(ftr.ApiError) as info:
        run.submit(1, {})
    assert info.value.status == 409 and info.value.title == "Conflict"
    for bad in ("hello", "ada/", "ada/hello@", "a/b/c"):
        with pytest.raises(ValueError, match="OWNER/MODEL"):
            client.run(bad)
    with pytest.raises(ValueError, match="two versions"):
        client.run("ada/hello@2", version=3)
    with pytest.raises(ValueError, match="http://host:port"):
        ftr.Client("localhost:8080")


def test_an_unreachable_server(server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(ftr.ServerUnreachable, match="cannot reach the server"):
        ftr.Client(f"http://127.0.0.1:{port}", token=TOKEN, timeout=5).models()


def test_file_payload_and_save(tmp_path):
    digit = REPO / "samples/image-classifier/images/digit-3.png"
    payload = ftr.Client.file(digit)
    assert (payload["name"], payload["media_type"]) == ("digit-3.png", "image/png")
    assert base64.b64decode(payload["data"]) == digit.read_bytes()
    assert ftr.Client.file(digit, name="three.jpg")["media_type"] == "image/jpeg"
    saved = ftr.Client.save({"name": "../../evil.txt", "media_type": "text/plain",
                             "data": base64.b64encode(b"hi").decode()}, tmp_path)
    assert Path(saved) == tmp_path / "evil.txt" and Path(saved).read_bytes() == b"hi"
    with pytest.raises(ValueError, match="cannot save"):
        ftr.Client.save({"name": "..", "media_type": "x", "data": ""}, tmp_path)

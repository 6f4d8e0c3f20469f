"""Step files against the REAL feather-server (real_server.py): files go into a step as streamed uploads and
come back as streamed downloads, never as base64 in JSON; the server's limits on step files are the same for
the API, the runner and the SDK; downloads are attachments only whoever can read the run gets.
The model is tests/models/files (File.Upload of a .pt file, given back as a File.Download)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import feather as ftr
from conftest import REPO
from real_server import RealServer

MODEL = "admin/files"
MODEL_DIR = REPO / "tests" / "models" / "files"
BIG = 200 * 1000 * 1000


@pytest.fixture(scope="module")
def files_server(real_server) -> RealServer:
    real_server.publish(MODEL_DIR, MODEL)
    return real_server


@pytest.fixture
def client(files_server) -> ftr.Client:
    return ftr.Client(files_server.url, token=files_server.token, poll_interval=0.2)


def make_file(path: Path, size: int, seed: int = 7) -> str:
    """A sparse file of `size` bytes with random 1 MiB blocks spread through it; returns its SHA-256."""
    rng = __import__("random").Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset in range(0, size - (1 << 20), size // 9):
            f.seek(offset)
            f.write(rng.randbytes(1 << 20))
    return sha256(path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def status(pid: int, key: str) -> int:
    """A /proc/<pid>/status memory figure (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def http(method: str, url: str, token: str | None = None, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def test_a_200_mb_file_goes_through_a_step_and_back_as_a_download(client, files_server, tmp_path):
    big = tmp_path / "weights.pt"
    out = tmp_path / "out"
    out.mkdir()
    try:
        expected = make_file(big, BIG)
        pid = files_server.process.pid
        before = max(status(pid, "VmRSS"), status(pid, "VmHWM"))

        run = client.run(MODEL)
        outputs = run.step(0, {"weights": {"files": [ftr.Client.file(big)]}}, timeout=600)
        assert outputs[1]["value"]["texts"] == [f"{BIG} {expected}"]  # the step read every byte
        copy = outputs[0]["value"]["files"][0]
        assert "data" not in copy and copy["size"] == BIG and copy["name"] == "back-weights.pt"
        assert copy["url"] == f"/api/runs/{run.id}/files/{copy['file']}"

        saved = client.download(copy, out)
        assert Path(saved) == out / "back-weights.pt" and sha256(Path(saved)) == expected
        os.remove(saved)

        # the next step gets step 0's output file from the server, as a file again
        assert run.step(1, {}, timeout=600)[0]["value"]["texts"] == [f"{BIG} {expected}"]
        # what was submitted is kept as a reference, not as base64
        kept = run.responses(0)["weights"]["files"][0]
        assert set(kept) == {"name", "media_type", "file", "size", "url"} and kept["size"] == BIG

        # 200 MB went in, through two steps and out again; the server's memory did not grow with it
        grown = status(pid, "VmHWM") - before
        assert grown < 100 * 1024 * 1024, f"the server's peak resident memory grew by {grown >> 20} MiB"
    finally:
        big.unlink(missing_ok=True)


def test_a_pt_upload_is_accepted_and_other_types_are_refused(client):
    run = client.run(MODEL)
    ok = run.step(0, {"weights": {"files": [{"name": "w.pt", "media_type": "application/octet-stream",
                                             "data": base64.b64encode(b"tensor").decode()}]}}, timeout=300)
    assert ok[1]["value"]["texts"] == [f"6 {hashlib.sha256(b'tensor').hexdigest()}"]
    with pytest.raises(ftr.ApiError) as refused:
        run.submit(0, {"weights": {"files": [{"name": "w.onnx", "media_type": "application/octet-stream",
                                              "data": base64.b64encode(b"x").decode()}]}})
    assert refused.value.status == 400 and "a file name ending in .pt" in str(refused.value)


def test_downloads_are_attachments_that_only_whoever_can_read_the_run_gets(client, files_server, tmp_path):
    small = tmp_path / "small.pt"
    small.write_bytes(b"<html><script>alert(1)</script></html>")
    run = client.run(MODEL)
    copy = run.step(0, {"weights": {"files": [ftr.Client.file(small, media_type="text/html")]}}, timeout=300)[0]["value"]["files"][0]
    url = files_server.url + copy["url"]

    code, headers, body = http("GET", url, files_server.token)
    assert code == 200 and body == small.read_bytes()
    assert headers["Content-Disposition"].startswith("attachment;") and "back-small.pt" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"

    # nobody else: anonymous, another user, another run's id, an unknown file
    assert http("GET", url)[0] == 404
    admin = files_server._post("/api/auth/tokens", {"username": "admin", "password": files_server.password,
                                                    "name": "admin", "scopes": ["admin"]})["token"]
    code, _, _ = http("POST", files_server.url + "/api/users", admin,
                      json.dumps({"username": "eve", "password": "eve-password-1"}).encode(), {"Content-Type": "application/json"})
    assert code == 201
    eve = files_server._post("/api/auth/tokens", {"username": "eve", "password": "eve-password-1", "name": "eve",
                                                  "scopes": ["read", "run"]})["token"]
    assert http("GET", url, eve)[0] == 404
    other = client.run(MODEL)
    assert http("GET", files_server.url + f"/api/runs/{other.id}/files/{copy['file']}", files_server.token)[0] == 404
    assert http("GET", files_server.url + f"/api/runs/{run.id}/files/0123456789abcdef", files_server.token)[0] == 404
    # nor may anyone else put files into the run
    code, _, _ = http("POST", files_server.url + f"/api/runs/{run.id}/files?name=x.pt", eve, b"x",
                      {"Content-Type": "application/octet-stream"})
    assert code == 404


@pytest.fixture(scope="module")
def small_limits():
    """A second server whose step files may have at most 1000 bytes each and 1500 bytes a step."""
    server = RealServer(env={"FEATHER_MAX_STEP_FILE_BYTES": "1000", "FEATHER_MAX_STEP_BYTES": "1500"})
    try:
        server.start()
        server.publish(MODEL_DIR, MODEL)
        yield server
    finally:
        server.stop()


def test_the_limits_are_the_same_at_every_layer(small_limits, tmp_path):
    client = ftr.Client(small_limits.url, token=small_limits.token, poll_interval=0.2)
    assert client.limits() == {"maxStepFileBytes": 1000, "maxStepBytes": 1500}
    run = client.run(MODEL)
    big = tmp_path / "big.pt"
    big.write_bytes(b"x" * 2000)

    # the SDK refuses before sending a byte
    with pytest.raises(ValueError, match="maxStepFileBytes"):
        run.submit(0, {"weights": {"files": [ftr.Client.file(big)]}})
    halves = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for h in halves:
        h.write_bytes(b"y" * 800)
    with pytest.raises(ValueError, match="maxStepBytes"):
        run.submit(0, {"weights": {"files": [ftr.Client.file(h) for h in halves]}})

    # the API: the upload route (413 naming the limit), inline data, and the step's total
    code, _, body = http("POST", small_limits.url + f"/api/runs/{run.id}/files?name=big.pt", small_limits.token,
                         big.read_bytes(), {"Content-Type": "application/octet-stream"})
    problem = json.loads(body)
    assert code == 413 and problem["limit"] == "maxStepFileBytes" and "FEATHER_MAX_STEP_FILE_BYTES" in problem["detail"]
    with pytest.raises(ftr.ApiError) as inline:
        run.submit(0, {"weights": {"files": [{"name": "big.pt", "media_type": "application/octet-stream",
                                              "data": base64.b64encode(b"x" * 2000).decode()}]}})
    assert inline.value.status == 400 and "1000 bytes" in str(inline.value)
    first = client.upload(run.id, ftr.Client.file(halves[0]))
    with pytest.raises(ftr.ApiError) as total:  # one uploaded, one inline: 1600 bytes
        run.submit(0, {"weights": {"files": [first, ftr.Client.file(halves[1]).payload()]}})
    assert total.value.status == 400 and "FEATHER_MAX_STEP_BYTES" in str(total.value)
    # uploads no step uses yet share one step's budget: the second 800 bytes would pass 1500 (413, nothing kept)
    code, _, body = http("POST", small_limits.url + f"/api/runs/{run.id}/files?name=b.pt", small_limits.token,
                         halves[1].read_bytes(), {"Content-Type": "application/octet-stream"})
    problem = json.loads(body)
    assert code == 413 and problem["limit"] == "maxStepBytes" and "no step of this run uses yet" in problem["detail"]
    # once a step names the first upload, it no longer counts: the second upload is taken
    run.step(0, {"weights": {"files": [first]}}, timeout=300)
    assert client.upload(run.id, ftr.Client.file(halves[1]))["file"]

    # the runner: an output file past the limit fails the step, naming it
    grow = tmp_path / "grow.pt"
    grow.write_bytes(b"z" * 300)
    with pytest.raises(ftr.StepFailed) as failed:
        run.step(0, {"weights": {"files": [ftr.Client.file(grow)]}}, timeout=300)
    assert failed.value.type == "OutputTooLarge" and "FEATHER_MAX_STEP_FILE_BYTES" in str(failed.value)


@pytest.fixture(scope="module")
def legacy_runner():
    """A server whose runner image says it speaks protocol 1 only (as every runner from before step files):
    the runner image of this test session with its protocol label set back to 1."""
    base = os.environ.get("FEATHER_RUNNER_IMAGE", "feather-runner:latest")
    tag = f"feather-runner:legacy-test-{os.getpid()}"
    built = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], capture_output=True, text=True,
                           input=f'FROM {base}\nLABEL org.feather.runtime.protocol="1"\n')
    assert built.returncode == 0, built.stderr
    server = RealServer(env={"FEATHER_RUNNER_IMAGE": tag})
    try:
        server.start()
        server.publish(MODEL_DIR, MODEL)
        yield server
    finally:
        server.stop()
        # the environment image built on this runner alone (labelled with its id), then the runner itself
        runner_id = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                                   capture_output=True, text=True).stdout.strip()
        envs = subprocess.run(["docker", "images", "-q", "--filter", f"label=org.feather.runner-image={runner_id}"],
                              capture_output=True, text=True).stdout.split() if runner_id else []
        subprocess.run(["docker", "rmi", *envs, tag], capture_output=True)


def test_a_runtime_from_before_step_files_gets_its_files_inline(legacy_runner, tmp_path):
    """Versions built on an older runner keep working: the server sends them protocol 1 (files as base64)
    and stores the files they give back inline as files of the run, downloads included."""
    client = ftr.Client(legacy_runner.url, token=legacy_runner.token, poll_interval=0.2)
    weights = tmp_path / "old.pt"
    weights.write_bytes(os.urandom(300_000))
    run = client.run(MODEL)
    outputs = run.step(0, {"weights": {"files": [ftr.Client.file(weights)]}}, timeout=300)
    assert outputs[1]["value"]["texts"] == [f"300000 {sha256(weights)}"]
    copy = outputs[0]["value"]["files"][0]
    assert "data" not in copy and copy["size"] == 300_000
    out = tmp_path / "out"
    out.mkdir()
    assert Path(client.download(copy, out)).read_bytes() == weights.read_bytes()
    # the next step gets step 0's file inline too
    assert run.step(1, {}, timeout=300)[0]["value"]["texts"] == [f"300000 {sha256(weights)}"]
    assert any("speaks runtime protocol" in line and '"Protocol":1' in line for line in legacy_runner.log), \
        "the server did not send protocol 1"

"""Shared helpers for the SDK tests. The SDK under test is python-sdk/ of this checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "python-sdk"
sys.path.insert(0, str(SDK))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def sdk_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SDK)
    env.pop("FEATHER_MODEL_DIR", None)
    return env


def feather(*args: str, cwd: Path | None = None, stdin: str | None = None,
            module: str = "feather") -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", module, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, env=sdk_env(), timeout=60)


@pytest.fixture
def write_model(tmp_path: Path):
    """write_model(source, name="model.py", **other_files) -> model directory."""
    def write(source: str, name: str = "model.py", **files: str) -> Path:
        (tmp_path / name).write_text(textwrap.dedent(source))
        for fname, text in files.items():
            (tmp_path / fname.replace("__", "/")).write_text(textwrap.dedent(text))
        return tmp_path
    return write


def run_runtime(directory: Path, request: dict) -> tuple[list[dict], str, int]:
    """Runs `python3 -m feather.runtime` in the model directory; returns (stdout JSON lines, stderr, rc)."""
    proc = feather(cwd=directory, stdin=json.dumps(request), module="feather.runtime")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return lines, proc.stderr, proc.returncode


@pytest.fixture(scope="session")
def real_server():
    """The real feather-server with tests/models/contract published as admin/contract (real_server.py)."""
    from real_server import RealServer

    server = RealServer()
    try:
        yield server.start()
    finally:
        server.stop()

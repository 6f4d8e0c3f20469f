"""The real feather-server for the contract suite: the server built by `dotnet build` (or
FEATHER_SERVER_DLL) on a free loopback port, with a temporary data directory and the real Docker
runner, and tests/models/contract published with the built CLI. One per test session."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "tests" / "models" / "contract"
MODEL = "admin/contract"


def _built(env_name: str, relative: str) -> Path:
    path = Path(os.environ.get(env_name) or REPO / relative)
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: build the solution first "
                           "(dotnet build Feather.sln -c Debug), or set {env_name}")
    return path


class RealServer:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.extra_env = dict(env or {})
        self.server_dll = _built("FEATHER_SERVER_DLL", "Feather.Server/bin/Debug/net10.0/feather-server.dll")
        self.cli_dll = _built("FEATHER_CLI_DLL", "Feather.Cli/bin/Debug/net10.0/feather.dll")
        self.data = Path(tempfile.mkdtemp(prefix="feather-contract-data-"))
        self.home = Path(tempfile.mkdtemp(prefix="feather-contract-home-"))
        self.password = os.urandom(12).hex()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.token = ""

    # ---- life cycle ---------------------------------------------------------------------------

    def start(self) -> RealServer:
        env = dict(os.environ, FEATHER_PORT=str(self.port), FEATHER_DATA=str(self.data),
                   FEATHER_ADMIN_PASSWORD=self.password, Runner__WarmContainers="0", **self.extra_env)
        self.process = subprocess.Popen(["dotnet", str(self.server_dll)], cwd=self.data, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"feather-server exited with {self.process.returncode}:\n{self.server_log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"feather-server did not answer /healthz within 90 s:\n{self.server_log()}")
            time.sleep(0.3)
        self.token = self._post("/api/auth/tokens", {"username": "admin", "password": self.password,
                                                     "name": "contract-suite", "scopes": ["read", "run", "publish"]})["token"]
        login = self.cli("login", self.url, "--user", "admin", "--password-stdin", stdin=self.password + "\n")
        if login.returncode != 0:
            raise RuntimeError(f"feather login failed: {login.stdout}{login.stderr}")
        published = self.cli("publish", str(MODEL_DIR), timeout=600)
        if published.returncode != 0:
            raise RuntimeError(f"feather publish failed: {published.stdout}{published.stderr}\n{self.server_log()}")
        deadline = time.monotonic() + 600
        while True:  # steps are refused (409) until the version's image is built
            image = self._request("GET", f"/api/models/{MODEL}/versions/1")["image"]  # type: ignore[index]
            if image["status"] == "ready":
                return self
            if image["status"] == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"the image of {MODEL} version 1 is {image['status']}: {image.get('error')}\n{image.get('log')}")
            time.sleep(0.5)

    def stop(self) -> None:
        images = self._version_images()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        instance = self.data / "instance-id"
        if instance.exists():
            owner = instance.read_text().strip()
            left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=org.feather.managed=true",
                                   "--filter", f"label=org.feather.owner={owner}"], capture_output=True, text=True)
            ids = left.stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
            # its version and weights images by their owner label, also one untagged while a container used it
            for kind in ("version", "weights"):
                owned = subprocess.run(["docker", "images", "-q", "--filter", "label=org.feather.managed=true",
                                        "--filter", f"label=org.feather.owner={owner}",
                                        "--filter", f"label=org.feather.image={kind}"], capture_output=True, text=True)
                images += sorted(set(owned.stdout.split()))
        if images:
            subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    # ---- helpers ------------------------------------------------------------------------------

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEATHER_") and k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
        env.update(HOME=str(self.home), FEATHER_URL=self.url, FEATHER_PYTHON="/usr/bin/python3")
        return subprocess.run(["dotnet", str(self.cli_dll), *args], input=stdin, capture_output=True, text=True,
                              env=env, timeout=timeout)

    def server_log(self) -> str:
        return "\n".join(self.log[-200:])

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line.rstrip("\n"))

    def publish(self, directory: Path, model: str) -> None:
        """Publishes `directory` as `model` (admin/<name>) and waits until its version 1 is runnable."""
        published = self.cli("publish", str(directory), timeout=600)
        if published.returncode != 0:
            raise RuntimeError(f"feather publish failed: {published.stdout}{published.stderr}\n{self.server_log()}")
        deadline = time.monotonic() + 600
        while True:
            image = self._request("GET", f"/api/models/{model}/versions/1")["image"]  # type: ignore[index]
            if image["status"] == "ready":
                return
            if image["status"] == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"the image of {model} version 1 is {image['status']}: {image.get('error')}\n{image.get('log')}")
            time.sleep(0.5)

    def _request(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else None

    def _post(self, path: str, body: object) -> dict:
        return self._request("POST", path, body)  # type: ignore[return-value]

    def _version_images(self) -> list[str]:
        if self.process is None or self.process.poll() is not None or not self.token:
            return []
        images = []
        try:
            for model in self._request("GET", "/api/models") or []:  # type: ignore[union-attr]
                base = f"/api/models/{model['owner']}/{model['name']}"
                for version in self._request("GET", base + "/versions") or []:  # type: ignore[union-attr]
                    detail = self._request("GET", f"{base}/versions/{version['number']}")
                    tag = ((detail or {}).get("image") or {}).get("versionImage")  # type: ignore[union-attr]
                    if tag:
                        images.append(tag)
        except (urllib.error.URLError, OSError):
            pass
        return images

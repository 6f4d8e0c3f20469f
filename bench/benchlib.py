"""Shared by bench/step-latency and bench/concurrency: starts bin/feather-server on a free loopback
port with a temporary data directory, publishes bench/noop, runs no-op steps through the HTTP API,
and cleans up (server stopped with SIGTERM, its containers and its version images removed; the
shared environment image stays, as the server's retention policy would keep it).
Standard library only; run with Debian's /usr/bin/python3."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOOP_RESPONSES = {"text": {"texts": ["x"]}}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class Server:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        for name in ("feather-server", "feather"):
            if not os.access(os.path.join(ROOT, "bin", name), os.X_OK):
                raise SystemExit(f"bin/{name} is missing: build it with `scripts/build.sh binaries`")
        self.data = tempfile.mkdtemp(prefix="feather-bench-data-")
        self.config = tempfile.mkdtemp(prefix="feather-bench-config-")
        self.password = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.token = ""
        self.process: subprocess.Popen | None = None
        self.log = open(os.path.join(self.data, "server.log"), "w")
        self.version_images: list[str] = []  # removed on exit; other servers' images are left alone

    def __enter__(self) -> "Server":
        env = dict(os.environ, FEATHER_PORT=str(self.port), FEATHER_DATA=self.data, FEATHER_ADMIN_PASSWORD=self.password,
                   **self.extra_env)
        self.process = subprocess.Popen([os.path.join(ROOT, "bin", "feather-server")], cwd=self.data, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):  # refused, reset, or a slow answer on a busy machine
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"feather-server did not start; log: {self.log.name}")
            time.sleep(0.2)
        self.token = self.request("POST", "/api/auth/tokens", {"username": "admin", "password": self.password,
                                                                "name": "bench", "scopes": ["read", "run", "publish", "admin"]})["token"]
        return self

    @property
    def instance_id(self) -> str:
        # the server writes it with a UTF-8 byte order mark, which str.strip() keeps (and a label filter would not match)
        with open(os.path.join(self.data, "instance-id"), encoding="utf-8-sig") as f:
            return f.read().strip()

    def request(self, method: str, path: str, body: object | None = None, headers: dict[str, str] | None = None,
                timeout: float = 600) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")

    def publish_noop(self, model: str = "noop") -> str:
        """Publishes bench/<model> (bench/noop by default) with bin/feather, waits for its image; returns the version image."""
        env = dict(os.environ, XDG_CONFIG_HOME=self.config, FEATHER_PYTHON="/usr/bin/python3", FEATHER_URL=self.url,
                   FEATHER_TOKEN=self.token)
        done = subprocess.run([os.path.join(ROOT, "bin", "feather"), "publish", os.path.join(ROOT, "bench", model), "--wait"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"publishing bench/{model} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        version = self.request("GET", f"/api/models/admin/{model}/versions/1")
        if version["image"]["status"] != "ready":
            raise SystemExit(f"the {model} image is {version['image']['status']}: {version['image'].get('error')}")
        self.version_images.append(version["image"]["versionImage"])
        return version["image"]["versionImage"]

    def step(self, model: str = "noop") -> tuple[float, str]:
        """One step of bench/<model> through the stateless execute call; returns (seconds, final status)."""
        start = time.perf_counter()
        try:
            body = self.request("POST", f"/api/models/admin/{model}/execute", {"responses": NOOP_RESPONSES},
                                {"Prefer": "wait=300"})
            status = body["step"]["status"]
        except urllib.error.HTTPError as e:
            status = f"HTTP {e.code}"
        return time.perf_counter() - start, status

    def containers(self, all_states: bool = True) -> list[str]:
        """'state warm-label' of each container this server owns."""
        out = docker("ps", *(["-a"] if all_states else []), "--filter", "label=org.feather.managed=true",
                     "--filter", f"label=org.feather.owner={self.instance_id}",
                     "--format", '{{.State}} {{.Label "org.feather.warm"}}')
        return [line for line in out.splitlines() if line.strip()]

    def __exit__(self, *exc) -> None:
        self.owner = self.instance_id if os.path.exists(os.path.join(self.data, "instance-id")) else None
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.left_after_stop = 0
        if self.owner:
            left = docker("ps", "-aq", "--filter", f"label=org.feather.owner={self.owner}").split()
            self.left_after_stop = len(left)
            if left:
                docker("rm", "-f", *left, check=False)
        for image in self.version_images:
            docker("rmi", image, check=False)
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.config, ignore_errors=True)

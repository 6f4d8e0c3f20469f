"""A one-node swarm and a lab registry for the swarm benchmarks, as tests/Shared/SwarmLab.cs makes them for the
tests: `docker swarm init --advertise-addr 127.0.0.1` when the engine is in no swarm (and `docker swarm leave
--force` at the end, with docker_gwbridge removed when the init made it), Debian's docker-registry as a child
process on a free loopback port with htpasswd credentials and its storage in a temporary directory (stopped and
deleted at the end, with the images the engine pulled from it). One lab at a time (a file lock shared with the
tests' labs); a swarm a killed lab made (its node carries org.feather.swarm-lab) is taken over and left."""
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from benchlib import docker  # noqa: E402

USER = "feather-lab"
LAB_LABEL = "org.feather.swarm-lab"  # on the node of a swarm a lab made: whether docker_gwbridge existed before it


class SwarmLab:
    def __enter__(self) -> "SwarmLab":
        self.password = uuid.uuid4().hex
        self.joined = False
        self.registry_process = None
        self.dir = tempfile.mkdtemp(prefix="feather-swarm-registry-")
        # one lab per machine at a time, the tests' labs included (the same lock file as tests/Shared/SwarmLab.cs)
        self.lock = open(os.path.join(tempfile.gettempdir(), "feather-swarm-lab.lock"), "a+")
        deadline = time.monotonic() + 20 * 60
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("another swarm lab has held the lock for 20 minutes")
                time.sleep(1)
        # a SIGTERM still leaves the swarm (the caller's finally runs)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").strip()
        try:
            if state == "active true":
                # a swarm a killed lab made (its node carries the mark): no lab uses it (we hold the lock); left at the end
                mark = docker("node", "inspect", "self", "--format", f'{{{{index .Spec.Labels "{LAB_LABEL}"}}}}').strip()
                if mark in ("gwbridge", "no-gwbridge"):
                    self.joined, self.gwbridge_before = True, mark == "gwbridge"
            elif state.startswith("inactive"):
                self.gwbridge_before = subprocess.run(["docker", "network", "inspect", "docker_gwbridge"],
                                                      capture_output=True).returncode == 0
                docker("swarm", "init", "--advertise-addr", "127.0.0.1")
                self.joined = True
                node = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
                docker("node", "update", "--label-add", f"{LAB_LABEL}={'gwbridge' if self.gwbridge_before else 'no-gwbridge'}", node)
            else:
                raise SystemExit(f"the engine's swarm state is '{state}': need no swarm or a manager")
            htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, self.password], capture_output=True, text=True, check=True).stdout
            with open(os.path.join(self.dir, "htpasswd"), "w") as f:
                f.write(htpasswd)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            self.registry = f"127.0.0.1:{port}"
            with open(os.path.join(self.dir, "config.yml"), "w") as f:
                f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                        f"  delete:\n    enabled: true\nhttp:\n  addr: {self.registry}\n"
                        f"auth:\n  htpasswd:\n    realm: feather-lab\n    path: {self.dir}/htpasswd\n")
            self.registry_process = subprocess.Popen(["/usr/bin/docker-registry", "serve", os.path.join(self.dir, "config.yml")],
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://{self.registry}/v2/", timeout=2)
                except urllib.error.HTTPError as e:
                    if e.code == 401:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def server_env(self) -> dict[str, str]:
        return {"Runner__Mode": "swarm", "Runner__Swarm__Registry": f"{self.registry}/feather",
                "Runner__Swarm__RegistryUsername": USER, "Runner__Swarm__RegistryPassword": self.password}

    def __exit__(self, *exc) -> None:
        if getattr(self, "registry", None):
            for ref in docker("images", "--digests", "--format", "{{.Repository}}@{{.Digest}}", "--filter",
                              f"reference={self.registry}/*/*", check=False).split():
                if not ref.endswith("@<none>"):
                    docker("rmi", ref, check=False)
        if self.registry_process is not None:
            self.registry_process.kill()
            self.registry_process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.joined:
            docker("swarm", "leave", "--force", check=False)
            if not self.gwbridge_before:
                for _ in range(20):
                    if subprocess.run(["docker", "network", "rm", "docker_gwbridge"], capture_output=True).returncode == 0:
                        break
                    if subprocess.run(["docker", "network", "inspect", "docker_gwbridge"], capture_output=True).returncode != 0:
                        break
                    time.sleep(0.5)
        self.lock.close()

"""hostile: a model that attacks its sandbox, for the end-to-end tests (HostileModelTests).
The first input picks the attack, the second gives its targets (host:port addresses for "tcp").
An attack that gets through returns a report starting with BREACH; one that is stopped either
raises (the step fails with the error) or is killed by the runner (out of memory, timed out)."""
import os
import signal
import socket
import time

import feather as ftr

ATTACKS = ["tcp", "fork", "memory", "loop", "print", "stdout", "write", "fill-tmp", "environ", "remember"]

#: What earlier steps left in this process (module state); a container that served two steps would show it.
REMEMBERED = []


def prepare():
    # The preparation (run ahead of any request in a prepared container): state a later step could leak through.
    return {"seen": []}


def init():
    return (ftr.List.SelectOne(ATTACKS, title="Attack"),
            ftr.Text.In(default_text="", max_chars=1000, title="Targets (host:port, for tcp)"))


def tcp(targets):
    errors = []
    for target in targets.split():
        host, port = target.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                return f"BREACH: connected to {target}"
        except OSError as error:
            errors.append(f"{target}: {error}")
    raise ConnectionError("no connection: " + "; ".join(errors))


def fork():
    children = 0
    while True:
        try:
            pid = os.fork()
        except OSError as error:
            raise RuntimeError(f"fork failed after {children} children: {error}") from None
        if pid == 0:  # a child holds its process slot until the container is gone
            while True:
                signal.pause()
        children += 1
        if children > 100_000:
            return f"BREACH: forked {children} processes"


def memory():
    chunks = []
    for i in range(64):  # 64 x 64 MiB = 4 GiB, every page written
        chunks.append(b"\x01" * (64 << 20))
    return f"BREACH: holding {len(chunks) * 64} MiB"


def loop():
    while True:
        pass


def print_flood():
    line = "x" * 1023
    # 64 MiB through print (the runtime sends it to the log): 64 times the 1 MiB log cap, and small
    # enough to finish well inside the 15 s step timeout on a busy 2-core machine (300 MiB did not)
    for _ in range(64 * 1024):
        print(line)
    return "printed 64 MiB"


def stdout_flood():
    # Bypass the runtime: write to every pipe this process holds, the runtime's real stdout among them.
    block = b"y" * (1 << 20)
    fds = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    for _ in range(300):
        for fd in fds:
            try:
                os.write(fd, block)
            except OSError:
                pass
    return "wrote 300 MiB to " + ", ".join(map(str, fds))


def write():
    results = []
    for path in ["/model/hostile.txt", "/etc/hostile.txt", "/hostile.txt", "/usr/lib/hostile.txt",
                 "/opt/feather/hostile.txt", "/var/tmp/hostile.txt"]:
        try:
            with open(path, "w") as fh:
                fh.write("pwned")
            return f"BREACH: wrote {path}"
        except OSError as error:
            results.append(f"{path}: {error.strerror}")
    with open("/tmp/allowed.txt", "w") as fh:  # the tmpfs is the one writable place
        fh.write("fine")
    raise PermissionError("could not write outside /tmp: " + "; ".join(results))


def fill_tmp():
    block = b"z" * (1 << 20)
    written = 0
    try:
        with open("/tmp/fill.bin", "wb") as fh:
            for _ in range(4096):  # 4 GiB
                fh.write(block)
                fh.flush()
                written += 1
    except OSError as error:
        raise OSError(error.errno, f"/tmp full after {written} MiB: {error.strerror}") from None
    return f"BREACH: wrote {written} MiB to /tmp"


def environ():
    lines = [f"env {k}={v}" for k, v in sorted(os.environ.items())]
    for path in ["/proc/1/environ", "/proc/self/environ", "/proc/1/cmdline", "/proc/self/mountinfo"]:
        try:
            with open(path, "rb") as fh:
                lines.append(f"{path}: " + fh.read().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError as error:
            lines.append(f"{path}: {error.strerror}")
    for root, dirs, files in os.walk("/"):
        if root in ("/proc", "/sys", "/dev"):
            dirs[:] = []
            continue
        for name in files:
            if name in ("feather.db", "server-secret", "instance-id"):
                lines.append(f"found {os.path.join(root, name)}")
    return "\n".join(lines)


def remember(secret):
    """Looks for what an earlier step (maybe another user's) left in the process, the prepared state or /tmp,
    then leaves its own secret in all three."""
    found = list(REMEMBERED) + list(ftr.prepared()["seen"])
    try:
        with open("/tmp/remembered.txt") as fh:
            found += fh.read().split()
    except OSError:
        pass
    REMEMBERED.append(secret)
    ftr.prepared()["seen"].append(secret)
    with open("/tmp/remembered.txt", "a") as fh:
        fh.write(secret + "\n")
    return f"BREACH: saw {' '.join(found)}" if found else f"remembered nothing before {secret}"


@ftr.step(title="Attack", outputs=["report"])
def attack(attack: ftr.List.SelectOne, targets: ftr.Text.In) -> ftr.Text.View:
    name = attack.get()
    started = time.monotonic()
    run = {"tcp": lambda: tcp(targets.get()[0]), "fork": fork, "memory": memory, "loop": loop,
           "print": print_flood, "stdout": stdout_flood, "write": write, "fill-tmp": fill_tmp,
           "environ": environ, "remember": lambda: remember(targets.get()[0])}[name]
    report = run()
    return ftr.Text.View([report, f"{name} took {time.monotonic() - started:.1f} s"], title="Report")


ftr.build(name="hostile", init=init, steps=[attack], prepare=prepare, description="Attacks its sandbox (tests only).")

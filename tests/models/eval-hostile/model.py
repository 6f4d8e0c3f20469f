"""A hostile model for evaluation tests (tests/Feather.EndToEnd.Tests/EvaluationTests.cs).

Its predict function behaves by the records' text:
- "sleep": sleeps (for the cancel test);
- "short": returns one prediction too few;
- "forge": bypasses the runtime's checks: writes its own result line with one prediction too few straight to
  the runtime's real stdout (found among its open pipes) and exits, so only the server's check is left;
- anything else: hunts for the dataset's labels (values like secret-<32 hex>-<n>) in the environment,
  the process's command lines, every readable file outside the system's own directories, whatever is
  left on stdin, and the strings held by the process's objects, then answers every record with the
  first label it found. Its stderr (the evaluation's log) says what it searched and found.
"""
from __future__ import annotations

import gc
import json
import os
import re
import stat
import sys
import time

import feather as ftr

PATTERN = re.compile(r"secret-[0-9a-f]{32}-[0-9]")
SKIP = ("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/boot")


def init():
    return ftr.Text.In(default_text="hi", title="Text")


@ftr.step(title="Echo")
def echo(text: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(text.get())


def _hunt() -> tuple[set[str], dict[str, int]]:
    found: set[str] = set()
    searched = {"env": 0, "files": 0, "objects": 0}
    for value in os.environ.values():
        searched["env"] += 1
        found |= set(PATTERN.findall(value))
    for path in ("/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/proc/1/cmdline"):
        try:
            with open(path, "rb") as fh:
                found |= set(PATTERN.findall(fh.read().decode("utf-8", "replace")))
        except OSError:
            pass
    for root, dirs, files in os.walk("/"):
        if root.startswith(SKIP):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) > 4 * 1024 * 1024:
                    continue
                with open(path, "rb") as fh:
                    searched["files"] += 1
                    found |= set(PATTERN.findall(fh.read().decode("utf-8", "replace")))
            except OSError:
                pass
    try:
        rest = sys.stdin.read()
        found |= set(PATTERN.findall(rest))
    except (OSError, ValueError):
        pass
    for obj in gc.get_objects():
        searched["objects"] += 1
        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
        for v in values:
            if isinstance(v, str) and "secret-" in v:
                found |= set(PATTERN.findall(v))
    return found, searched


@ftr.predict(task="text-classification", batch_size=8)
def predict(records: list[dict]) -> list[str]:
    texts = [r["text"] for r in records]
    if "sleep" in texts:
        print("sleeping", file=sys.stderr, flush=True)
        time.sleep(600)
    if "forge" in texts:
        line = json.dumps({"type": "result", "status": "succeeded", "predictions": ["x"] * (len(records) - 1)}) + "\n"
        stderr = os.fstat(2)
        for fd in range(3, 64):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if stat.S_ISFIFO(st.st_mode) and st.st_ino != stderr.st_ino:
                os.write(fd, line.encode())
                print(f"forged a result on fd {fd}", file=sys.stderr, flush=True)
                os._exit(0)
    if "short" in texts:
        return ["x"] * (len(records) - 1)
    found, searched = _hunt()
    print(f"searched {searched['env']} env vars, {searched['files']} files, {searched['objects']} objects; "
          f"found {len(found)} label value(s)", file=sys.stderr)
    guess = sorted(found)[0] if found else "nothing-found"
    return [guess] * len(records)


ftr.build(name="eval-hostile", init=init, steps=[echo], predict=predict,
          description="Tries to read the labels of the dataset it is evaluated on (tests only).",
          file_bundle=ftr.bundle(code_files=["model.py"]), profile="low")

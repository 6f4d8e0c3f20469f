"""A hostile model for the fine-tuning tests (tests/Feather.EndToEnd.Tests/FinetuneTests.cs).

Its training function behaves by its `mode` param:
- "raise": raises after one progress report (the job fails with the traceback in its log);
- "sleep": reports progress, then sleeps for `seconds` (for the cancel test);
- "network": tries to open TCP connections to `targets` (host:port, space-separated) and to resolve a name,
  prints per target whether it connected, and writes weights.txt with the report (the job succeeds);
- "ok": writes weights.txt with the records it saw.
"""
from __future__ import annotations

import os
import socket
import time

import feather as ftr


def init():
    return ftr.Text.In(default_text="hi", title="Text")


@ftr.step(title="Echo")
def echo(text: ftr.Text.In) -> ftr.Text.View:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.txt")) as fh:
        return ftr.Text.View([f"{text.get()[0]} / weights: {fh.read()[:200]}"])


def _bad_helper(records: int) -> float:
    return records / 0  # the line the traceback points at


@ftr.train(task="text-classification", params={
    "mode": ftr.Param(str, default="ok", choices=["ok", "raise", "sleep", "network"]),
    "seconds": ftr.Param(int, default=120, min=1, max=600),
    "targets": ftr.Param(str, default=""),
})
def train(data: ftr.TrainingData, params: dict, output: str) -> None:
    ftr.report(epoch=1, epochs=2, loss=1.0)
    if params["mode"] == "raise":
        _bad_helper(len(data))
    if params["mode"] == "sleep":
        print("sleeping", flush=True)
        time.sleep(params["seconds"])
    report = []
    if params["mode"] == "network":
        for target in params["targets"].split():
            host, port = target.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=3):
                    report.append(f"{target} connected")
            except OSError as error:
                report.append(f"{target} blocked: {error}")
        try:
            socket.getaddrinfo("example.com", 443)
            report.append("dns resolved")
        except OSError as error:
            report.append(f"dns blocked: {error}")
        for line in report:
            print(line, flush=True)
    ftr.report(epoch=2, epochs=2, loss=0.5)
    with open(os.path.join(output, "weights.txt"), "w") as fh:
        fh.write("\n".join(report) or ";".join(f"{r['text']}={r[data.label]}" for r in data))


ftr.build(
    name="train-hostile",
    init=init,
    steps=[echo],
    train=train,
    description="Trains badly on purpose: raises, sleeps or reaches for the network.",
    file_bundle=ftr.bundle(code_files=["model.py"], model_files=["weights.txt"]),
)

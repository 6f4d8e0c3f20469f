"""ftr.Client's feedback, usage, monitoring and run deletion against the real server (real_server.py):
admin/contract is published by the admin, who is therefore its owner and sees its feedback."""
from __future__ import annotations

import json

import pytest

import feather as ftr
from real_server import MODEL


@pytest.fixture()
def client(real_server) -> ftr.Client:
    return ftr.Client(real_server.url, token=real_server.token, poll_interval=0.2)


def test_feedback_is_seen_by_the_owner_and_exported_as_a_dataset(client, tmp_path):
    run = client.run(MODEL)
    run.step(0, {"name": {"texts": ["Grace"]}}, timeout=120)
    given = run.feedback(0, "greeting", correct=False, label="Hi, Grace!", comment="too formal")
    assert given["prediction"] == "Hello, Grace!" and given["answer"] == "Hi, Grace!"
    with pytest.raises(ftr.ApiError) as refused:
        client.feedback(run.id, 0, "greeting", item=5, correct=True)
    assert refused.value.status == 400

    mine = [f for f in client.model_feedback(MODEL, rating="incorrect") if f["runId"] == run.id]
    assert len(mine) == 1 and mine[0]["inputs"]["name"]["texts"] == ["Grace"]
    assert not [f for f in client.model_feedback(MODEL, version=99) if f["runId"] == run.id]

    target = client.export_feedback(MODEL, tmp_path / "feedback", rating="incorrect")
    manifest = json.loads((tmp_path / "feedback" / "dataset.json").read_text())
    assert manifest["name"] == "admin-contract-feedback" and manifest["records"] == "records.jsonl"
    records = [json.loads(line) for line in (tmp_path / "feedback" / "records.jsonl").read_text().splitlines() if line]
    assert {"prediction": "Hello, Grace!", "label": "Hi, Grace!"}.items() <= next(r for r in records if r["label"] == "Hi, Grace!").items()
    assert target.endswith("feedback")
    with pytest.raises(ValueError):
        client.export_feedback(MODEL, tmp_path / "feedback")  # not empty any more

    client.delete_feedback(given["id"])
    assert not [f for f in client.model_feedback(MODEL) if f["id"] == given["id"]]


def test_usage_monitoring_and_deleting_a_run(client):
    run = client.run(MODEL)
    run.step(0, {"name": {"texts": ["Ada"]}}, timeout=120)
    usage = client.usage()
    assert usage["subject"] == "user:admin" and usage["totals"]["steps"] >= 1
    assert any(row["key"] == MODEL for row in usage["byModel"])
    monitoring = client.monitoring(MODEL)
    assert monitoring["version"] == 1 and monitoring["method"] == "psi"
    assert sum(day["steps"] for day in monitoring["health"]) >= 1
    client.delete_run(run.id)
    with pytest.raises(ftr.ApiError) as gone:
        client.get_run(run.id)
    assert gone.value.status == 404

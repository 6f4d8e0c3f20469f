"""The SDK client's and the portal's contract tables are generated from docs/openapi.json
(scripts/gen-contract.py) and must not drift from it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import PYTHON, REPO

from feather import _contract, client

SCRIPT = REPO / "scripts" / "gen-contract.py"
TABLES = ("python-sdk/feather/_contract.py", "Feather.Server/Portal/static/js/contract.js")


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for relative in ("docs/openapi.json", *TABLES):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, root / relative)
    return root


def _gen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, str(SCRIPT), "--root", str(root), *args], capture_output=True, text=True, timeout=60)


def test_the_committed_tables_are_what_the_generator_writes_from_docs_openapi_json(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    proc = _gen(root)
    assert proc.returncode == 0, proc.stderr
    for relative in TABLES:
        assert (root / relative).read_text() == (REPO / relative).read_text(), \
            f"{relative} is out of date with docs/openapi.json: run python3 scripts/gen-contract.py"
        assert "do not edit" in (REPO / relative).read_text().splitlines()[0]


def test_check_mode_fails_and_names_the_file_when_the_document_changes(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    assert _gen(root, "--check").returncode == 0
    document = json.loads((root / "docs/openapi.json").read_text())
    document["components"]["schemas"]["StepView"]["properties"]["status"]["x-feather-active"] = ["queued"]
    (root / "docs/openapi.json").write_text(json.dumps(document))
    proc = _gen(root, "--check")
    assert proc.returncode == 1
    assert "_contract.py" in proc.stderr and "contract.js" in proc.stderr


def test_a_document_without_operation_ids_or_statuses_is_refused(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    document = json.loads((root / "docs/openapi.json").read_text())
    del document["paths"]["/api/runs/{runId}"]["get"]["operationId"]
    (root / "docs/openapi.json").write_text(json.dumps(document))
    proc = _gen(root)
    assert proc.returncode == 2 and "GET /api/runs/{runId} has no operationId" in proc.stderr


def test_the_client_takes_its_routes_and_statuses_from_the_table() -> None:
    assert _contract.ROUTES["cancelStep"] == ("DELETE", "/api/runs/{runId}/steps/{index}")
    assert client.PENDING == _contract.ACTIVE == frozenset({"queued", "running"})
    assert client.route("cancelStep", {"runId": "r/1", "index": 2}) == ("DELETE", "/api/runs/r%2F1/steps/2")
    assert _contract.TERMINAL.isdisjoint(_contract.ACTIVE)

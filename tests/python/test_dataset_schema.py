"""The dataset manifest's JSON Schema (python-sdk/feather/schema/dataset.schema.json): the sample dataset
and the example of docs/datasets.md pass it, and each kind of mistake is refused at the field it names.
The server and the CLI validate with the same file (Feather.Datasets embeds it)."""
import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "python-sdk/feather/schema/dataset.schema.json").read_text())
SAMPLE = json.loads((ROOT / "samples/datasets/digits-heldout/dataset.json").read_text())


def errors(manifest):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return sorted("/".join(str(p) for p in e.absolute_path) for e in validator.iter_errors(manifest))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_sample_dataset_passes():
    assert errors(SAMPLE) == []


def test_the_example_in_the_docs_passes():
    text = (ROOT / "docs/datasets.md").read_text()
    example = re.search(r"```json\n(\{.*?\n\})\n```", text, re.S)
    assert example, "docs/datasets.md has a complete dataset.json example"
    assert errors(json.loads(example.group(1))) == []


@pytest.mark.parametrize("change, where", [
    (lambda m: m.update(task="image-generation"), "task"),
    (lambda m: m.update(name="Digits Held Out"), "name"),
    (lambda m: m.update(records="records.xlsx"), "records"),
    (lambda m: m.update(records="/etc/records.csv"), "records"),
    (lambda m: m["fields"][0].update(type="picture"), "fields/0/type"),
    (lambda m: m["fields"][1].update(role="target"), "fields/1/role"),
    (lambda m: m["fields"][1].pop("role"), "fields/1"),
    (lambda m: m.pop("description"), ""),
    (lambda m: m.update(colour="blue"), ""),
])
def test_a_mistake_is_refused_at_its_field(change, where):
    manifest = copy.deepcopy(SAMPLE)
    change(manifest)
    assert where in errors(manifest)

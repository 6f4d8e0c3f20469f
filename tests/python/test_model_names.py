"""`ftr.build(name=...)` with a display name: the URL name is derived, the display name kept as the title."""
from __future__ import annotations

import pytest

from conftest import feather
from feather import _jsonschema
from feather.errors import ModelDefinitionError
from feather.metadata import inspect_path, load_schema
from feather.model import slugify

MODEL = '''
import feather as ftr

def init():
    return ftr.Text.In(title="Question")

def answer(q: ftr.Text.In) -> ftr.Text.View:
    return ftr.Text.View(q.get())

ftr.build({args}, init=init, steps=[answer])
'''


@pytest.mark.parametrize("text, expected", [
    ("Palette questions", "palette-questions"),
    ("  VQG: Visual Question Generation (2016)  ", "vqg-visual-question-generation-2016"),
    ("Café crème", "cafe-creme"),
    ("a--b__c", "a-b-c"),
    ("x" * 80, "x" * 63),
    ("!!!", ""),
])
def test_slugify(text, expected):
    assert slugify(text) == expected


def _metadata(write_model, args: str) -> dict:
    metadata = inspect_path(str(write_model(MODEL.format(args=args))), scan_environment=False)
    assert _jsonschema.errors(metadata, load_schema()) == []
    return metadata


def test_a_display_name_gives_the_url_name_and_the_title(write_model):
    metadata = _metadata(write_model, 'name="Palette questions"')
    assert metadata["name"] == "palette-questions"
    assert metadata["title"] == "Palette questions"


def test_a_url_name_has_no_title(write_model):
    metadata = _metadata(write_model, 'name="palette-questions"')
    assert metadata["name"] == "palette-questions"
    assert "title" not in metadata


def test_slug_and_title_can_be_given(write_model):
    assert (lambda m: (m["name"], m["title"]))(_metadata(write_model, 'name="Palette questions", slug="palettes"')) \
        == ("palettes", "Palette questions")
    assert (lambda m: (m["name"], m["title"]))(_metadata(write_model, 'name="vqg", title="Visual questions"')) \
        == ("vqg", "Visual questions")


@pytest.mark.parametrize("args, message", [
    ('name="!!!"', "cannot make a URL name from '!!!'"),
    ('name="Palette", slug="Not A Slug"', "slug 'Not A Slug' must match"),
    ('name=""', "name must be a non-empty string"),
    ('name="ok", title="a\\nb"', "title must be a non-empty string"),
])
def test_names_that_cannot_work_are_refused_clearly(write_model, args, message):
    with pytest.raises(ModelDefinitionError, match=message.replace("(", r"\(")):
        inspect_path(str(write_model(MODEL.format(args=args))), scan_environment=False)


def test_inspect_prints_the_title(write_model):
    directory = write_model(MODEL.format(args='name="Palette questions"'))
    result = feather("inspect", str(directory))
    assert result.returncode == 0, result.stderr
    assert '"name": "palette-questions"' in result.stdout and '"title": "Palette questions"' in result.stdout

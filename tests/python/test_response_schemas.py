"""Every interactive component emits the exact JSON Schema (draft 2020-12) of its response: the
schema accepts exactly what the component's own `bind()` accepts. The server, the portal and the
CLI read these schemas instead of copying the rules (docs/contracts.md §1, "Response schemas")."""
from __future__ import annotations

import base64
from typing import Any, Callable

import jsonschema
import pytest

import feather as ftr
from feather.component import registry
from feather.errors import PayloadError

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n1234").decode()


def f(name: str, data: str = PNG, media_type: str = "image/png", **extra: Any) -> dict[str, Any]:
    return {"name": name, "media_type": media_type, "data": data, **extra}


def images(n: int) -> list[ftr.Blob]:
    return [ftr.Blob(name=f"i{i}.png", data=b"\x89PNG" + bytes([i])) for i in range(n)]


# Per component: instances to build, and responses with whether bind() must accept them.
Case = tuple[Callable[[], Any], list[tuple[Any, bool]]]
CASES: dict[str, list[Case]] = {
    "File.Upload": [(lambda: ftr.File.Upload(types=[".png", ".JPG"], min_files=1, max_files=2), [
        ({"files": [f("a.png")]}, True),
        ({"files": [f("a.PNG"), f("b.tar.jpg", media_type="")]}, True),
        ({"files": [f("a.png", data="")]}, True),
        ({"files": [f("a.png", data="AA==")]}, True),
        ({"files": [f("a.png", data="AAA=")]}, True),
        ({"files": []}, False),
        ({"files": [f("a.png")] * 3}, False),
        ({"files": [f("notes.txt")]}, False),
        ({"files": [f("README")]}, False),
        ({"files": [f(".png")]}, False),
        ({"files": [f("a.png.txt")]}, False),
        ({"files": [f("a.xpng")]}, False),
        ({"files": [f("a.png\n")]}, False),
        ({"files": [f("")]}, False),
        ({"files": [f("a.png", data="not base64!")]}, False),
        ({"files": [f("a.png", data="AAA")]}, False),
        ({"files": [f("a.png", data="AA-_")]}, False),
        ({"files": [f("a.png", data="A===")]}, False),
        ({"files": [f("a.png", data="AAAA\n")]}, False),
        ({"files": [f("a.png", path="/etc")]}, False),
        ({"files": [{"name": "a.png", "data": PNG}]}, False),
        ({"files": [{"name": "a.png", "media_type": 1, "data": PNG}]}, False),
        ({"files": ["a.png"]}, False),
        ({"files": {}}, False),
        ({"file": []}, False),
        ({"files": [f("a.png")], "more": 1}, False),
        ("a.png", False),
    ]), (lambda: ftr.File.Upload(types=[".pt"]), [
        ({"files": [f("weights.pt", media_type="application/octet-stream")]}, True),
        ({"files": [f("weights.PT", media_type="")]}, True),
        ({"files": [f("weights.pth", media_type="application/octet-stream")]}, False),
        ({"files": [f("pt", media_type="application/octet-stream")]}, False),
    ]), (lambda: ftr.File.Upload(types=["audio/*", "video/mp4"]), [
        ({"files": [f("a.wav", media_type="audio/wav")]}, True),
        ({"files": [f("clip", media_type="Video/MP4; codecs=avc1")]}, True),
        ({"files": [f("a.ogg", media_type="audio/ogg")]}, True),
        ({"files": [f("a.wav", media_type="")]}, False),
        ({"files": [f("a.mp4", media_type="video/webm")]}, False),
        ({"files": [f("a.wav", media_type="audio/")]}, False),
        ({"files": [f("a.wav", media_type="audio/x/y")]}, False),
        ({"files": [f("a.wav", media_type="xaudio/wav")]}, False),
    ]), (lambda: ftr.File.Upload(types=[".onnx", "audio/*"], max_files=2), [
        ({"files": [f("m.onnx", media_type="application/octet-stream"), f("a.flac", media_type="audio/flac")]}, True),
        ({"files": [f("m.onnx", media_type="")]}, True),
        ({"files": [f("m.bin", media_type="application/octet-stream")]}, False),
    ]), (lambda: ftr.File.Upload(types=["*"]), [
        ({"files": [f("anything.xyz", media_type="")]}, True),
        ({"files": [f("README", media_type="text/plain")]}, True),
        ({"files": [f("")]}, False),
        ({"files": [f("a.bin", data="not base64!")]}, False),
    ])],
    "Text.In": [(lambda: ftr.Text.In(num_inputs=2, max_chars=5), [
        ({"texts": ["abc", "héllo"]}, True),
        ({"texts": ["😀😀😀😀😀", ""]}, True),
        ({"texts": ["abc"]}, False),
        ({"texts": ["a", "b", "c"]}, False),
        ({"texts": ["abc", "toolong"]}, False),
        ({"texts": ["abc", 5]}, False),
        ({"texts": "abc"}, False),
        ({"texts": ["a", "b"], "x": 1}, False),
        ("abc", False),
    ]), (lambda: ftr.Text.In(), [
        ({"texts": ["a" * 256]}, True),
        ({"texts": ["a" * 257]}, False),
    ])],
    "List.SelectOne": [(lambda: ftr.List.SelectOne(["cat", "dog"]), [
        ({"selected": 0}, True),
        ({"selected": 1}, True),
        ({"selected": 1.0}, True),  # JSON has one number type
        ({"selected": 2}, False),
        ({"selected": -1}, False),
        ({"selected": 0.5}, False),
        ({"selected": "dog"}, False),
        ({"selected": True}, False),
        ({"selected": None}, False),
        ({"selected": [1]}, False),
        ({}, False),
        (1, False),
    ])],
    "List.SelectMulti": [(lambda: ftr.List.SelectMulti(["a", ("b", True), "c"], max_selected=2), [
        ({"selected": []}, True),  # min_selected defaults to 0
        ({"selected": [2, 0]}, True),
        ({"selected": [0, 1, 2]}, False),
        ({"selected": [1, 1]}, False),
        ({"selected": [1, 1.0]}, False),
        ({"selected": [0, 3]}, False),
        ({"selected": [-1]}, False),
        ({"selected": [True]}, False),
        ({"selected": 0}, False),
    ]), (lambda: ftr.List.SelectMulti(["a", "b", "c", "d"], min_selected=2), [
        ({"selected": [0, 1, 2, 3]}, True),
        ({"selected": [3, 1]}, True),
        ({"selected": [3]}, False),
        ({"selected": []}, False),
    ]), (lambda: ftr.List.SelectMulti([], max_selected=1), [
        ({"selected": []}, True),
        ({"selected": [0]}, False),
    ])],
    "Image.WithSelectOne": [(lambda: ftr.Image.WithSelectOne(images(2), [["x", "y"], ["z"]]), [
        ({"selected": [1, 0]}, True),
        ({"selected": [1]}, False),
        ({"selected": [1, 0, 0]}, False),
        ({"selected": [0, 1]}, False),
        ({"selected": [[0], [0]]}, False),
        ({"selected": 0}, False),
    ]), (lambda: ftr.Image.WithSelectOne([], []), [
        ({"selected": []}, True),
        ({"selected": [0]}, False),
    ])],
    "Image.WithSelectMulti": [(lambda: ftr.Image.WithSelectMulti(images(2), [["x", "y", "w"], ["z"]], max_selected=2), [
        ({"selected": [[0, 2], []]}, True),
        ({"selected": [[], [0]]}, True),
        ({"selected": [[0, 1, 2], [0]]}, False),
        ({"selected": [[0], [1]]}, False),
        ({"selected": [[0, 0], []]}, False),
        ({"selected": [[0]]}, False),
        ({"selected": [[0], [0], []]}, False),
        ({"selected": [0, 0]}, False),
    ]), (lambda: ftr.Image.WithSelectMulti(images(2), [["x", "y"], ["z", ("w", True)]], min_selected=1), [
        ({"selected": [[1], [0, 1]]}, True),
        ({"selected": [[1], []]}, False),
        ({"selected": [[], []]}, False),
    ])],
    "Image.WithTextIn": [(lambda: ftr.Image.WithTextIn(images(2), max_chars=3), [
        ({"texts": ["a", "b"]}, True),
        ({"texts": ["a"]}, False),
        ({"texts": ["a", "bcde"]}, False),
        ({"texts": ["a", None]}, False),
    ])],
    "Document.WithTextIn": [(lambda: ftr.Document.WithTextIn(["one"]), [
        ({"texts": ["a"]}, True),
        ({"texts": ["a", "b"]}, False),
        ({"texts": []}, False),
    ])],
}


def accepted_by_bind(component: Any, response: Any) -> bool:
    try:
        component.bind(response)
    except PayloadError:
        return False
    return True


def test_every_interactive_component_has_cases_and_the_others_take_no_response():
    interactive = {cid for cid, cls in registry().items() if cls.interactive}
    assert interactive == set(CASES), "add response cases for every interactive component"
    for cid, cls in registry().items():
        assert (cls.schema()["response"] is not None) == cls.interactive, cid


@pytest.mark.parametrize("cid", sorted(CASES))
def test_the_emitted_schema_accepts_exactly_what_bind_accepts(cid: str):
    for make, responses in CASES[cid]:
        component = make()
        schema = component.response_schema()
        assert schema is not None, f"{cid} emits no response schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        assert {ok for _, ok in responses} == {True, False}, f"{cid}: give valid and invalid responses"
        for response, ok in responses:
            assert accepted_by_bind(component, response) is ok, f"{cid}: bind() on {response!r}"
            assert validator.is_valid(response) is ok, \
                f"{cid}: schema on {response!r}: {[e.message for e in validator.iter_errors(response)]}"


def test_the_schema_travels_with_interactive_outputs_and_init_components():
    out = ftr.List.SelectMulti(["a", "b"], max_selected=1, min_selected=1).to_output("pick")
    assert out["schema"]["response"]["properties"]["selected"] == {
        "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1},
        "uniqueItems": True, "minItems": 1, "maxItems": 1}
    assert out["props"]["min_selected"] == 1
    assert "schema" not in ftr.Text.View("hi").to_output("shown")
    # rebuilt from the output the server keeps, it emits the same schema
    again = ftr.List.SelectMulti.from_output(out["props"], out["value"])
    assert again.response_schema() == out["schema"]["response"]


def test_min_selected_is_checked_against_max_selected_and_the_items_offered():
    with pytest.raises(ftr.PropsError, match=r"min_selected \(2\) > max_selected \(1\)"):
        ftr.List.SelectMulti(["a", "b"], max_selected=1, min_selected=2)
    with pytest.raises(ftr.PropsError, match="min_selected is 3 but items has only 2 item"):
        ftr.List.SelectMulti(["a", "b"], min_selected=3)
    with pytest.raises(ftr.PropsError, match="min_selected must be a non-negative integer"):
        ftr.List.SelectMulti(["a"], min_selected=-1)
    with pytest.raises(ftr.PropsError, match=r"min_selected is 2 but lists\[1\] has only 1 item"):
        ftr.Image.WithSelectMulti(images(2), [["a", "b"], ["c"]], min_selected=2)
    with pytest.raises(PayloadError, match="image 0: 0 items selected, at least 1 required"):
        ftr.Image.WithSelectMulti(images(1), [["a"]], min_selected=1).bind({"selected": [[]]})


# ---- the fixture the server's tests validate with ----------------------------------------------

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "python" / "snapshots" / "response-schemas.json"

#: What tests/Feather.Server.Tests/Unit/StepInputValidatorTests.cs offers its responses to: the
#: SDK's own output payloads (props, value, schema), so the server is tested against real schemas.
FIXTURE_COMPONENTS: dict[str, Callable[[], Any]] = {
    "upload": lambda: ftr.File.Upload(types=[".PNG", ".jpg"], min_files=1, max_files=2),
    "upload_weights": lambda: ftr.File.Upload(types=[".pt", ".onnx"]),
    "upload_media": lambda: ftr.File.Upload(types=["audio/*", "video/mp4"]),
    "text": lambda: ftr.Text.In(num_inputs=2, max_chars=5),
    "text_default": lambda: ftr.Text.In(),
    "text_short": lambda: ftr.Text.In(max_chars=2),
    "select_one": lambda: ftr.List.SelectOne(["cat", "dog"]),
    "select_one_only": lambda: ftr.List.SelectOne(["only"]),
    "select_multi": lambda: ftr.List.SelectMulti([("a", True), "b", "c"], max_selected=2),
    "select_multi_any": lambda: ftr.List.SelectMulti([("a", True), "b", "c"]),
    "select_multi_min": lambda: ftr.List.SelectMulti(["a", "b", "c", "d"], min_selected=2, max_selected=3),
    "image_select_one": lambda: ftr.Image.WithSelectOne(images(2), [["x", "y"], ["z"]]),
    "image_select_multi": lambda: ftr.Image.WithSelectMulti(images(2), [["x", "y", "w"], ["z"]], max_selected=2),
    "image_select_multi_min": lambda: ftr.Image.WithSelectMulti(images(2), [["x", "y"], ["z"]], min_selected=1),
    "image_text": lambda: ftr.Image.WithTextIn(images(2), max_chars=3),
    "document_text": lambda: ftr.Document.WithTextIn(["a"]),
    "text_view": lambda: ftr.Text.View("shown"),
}


def test_the_servers_fixture_is_what_the_sdk_emits():
    import json
    import os
    data = {key: make().to_output("x") for key, make in FIXTURE_COMPONENTS.items()}
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("FEATHER_UPDATE_SNAPSHOTS") == "1":
        FIXTURE.write_text(text, encoding="utf-8")
    assert FIXTURE.exists(), f"no fixture {FIXTURE}; run with FEATHER_UPDATE_SNAPSHOTS=1"
    assert json.loads(FIXTURE.read_text(encoding="utf-8")) == json.loads(text), \
        f"{FIXTURE} differs from what the SDK emits; run with FEATHER_UPDATE_SNAPSHOTS=1"


@pytest.mark.parametrize("cid", sorted(CASES))
def test_the_schemas_example_is_a_valid_response(cid: str):
    for make, _ in CASES[cid]:
        component = make()
        schema = component.response_schema()
        examples = schema.get("examples")
        if cid != "List.SelectOne" or component.items:
            assert examples, f"{cid} emits no example response"
        for example in examples or []:
            jsonschema.Draft202012Validator(schema).validate(example)
            assert accepted_by_bind(component, example), f"{cid}: bind() refuses its own example {example!r}"

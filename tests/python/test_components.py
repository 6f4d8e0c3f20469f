"""Every component: construction, props, valid and invalid responses/values, get(), round trip."""
from __future__ import annotations

import base64
import io

import pytest

import feather as ftr
from feather import _jsonschema
from feather.errors import PayloadError, PropsError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_bytes(w: int = 4, h: int = 3, color=(255, 0, 0)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def payload(name: str, data: bytes, media_type: str = "image/png") -> dict:
    return {"name": name, "media_type": media_type, "data": b64(data)}


def roundtrip(component):
    out = component.to_output("x")
    assert _jsonschema.errors(out["value"], type(component).value_schema or {}) == []
    return type(component).from_output(out["props"], out["value"])


# ---- File.Upload -------------------------------------------------------------------------------

def test_file_upload_accepts_files_and_decodes_images():
    up = ftr.File.Upload(types=[".png", ".txt"], min_files=1, max_files=2)
    up.bind({"files": [payload("a.png", png_bytes()), payload("b.txt", b"hi", "text/plain")]})
    blobs = up.get()
    assert [b.name for b in blobs] == ["a.png", "b.txt"] and blobs[1].data == b"hi"
    assert up.get(format="bytes")[1] == b"hi"
    assert ftr.File.Upload(types=[".txt"]).bind({"files": [payload("b.txt", "héllo".encode(), "text/plain")]}).get(format="text") == ["héllo"]
    one = ftr.File.Upload(types=[".png"]).bind({"files": [payload("a.png", png_bytes(5, 2))]})
    assert one.get(format="array")[0].shape == (2, 5, 3)
    assert one.get(format="pil")[0].size == (5, 2)


def test_file_upload_takes_any_extension_or_media_type_the_model_names():
    weights = ftr.File.Upload(types=[".pt", ".onnx"]).bind({"files": [payload("model.pt", b"\x80\x02weights", "")]})
    assert weights.get(format="bytes") == [b"\x80\x02weights"]
    media = ftr.File.Upload(types=["audio/*", "video/mp4"], max_files=2)
    media.bind({"files": [payload("a.wav", b"RIFF", "audio/wav"), payload("clip", b"mp4", "video/mp4")]})
    assert [b.name for b in media.get()] == ["a.wav", "clip"]
    with pytest.raises(PayloadError, match=r"file 0 \(a.webm\): type .webm not accepted, expected one of audio/\*, video/mp4"):
        media.bind({"files": [payload("a.webm", b"x", "video/webm")]})
    assert ftr.File.Upload(types=["*"]).bind({"files": [payload("notes", b"x", "")]}).get(format="bytes") == [b"x"]


@pytest.mark.parametrize("response, message", [
    ({"files": []}, "0 file(s) given, expected 1 to 2"),
    ({"files": [payload("a.png", b"x")] * 3}, "3 file(s) given, expected 1 to 2"),
    ({"files": [payload("a.gif", b"x")]}, "file 0 (a.gif): type .gif not accepted"),
    ({"files": [{"name": "a.png", "media_type": "image/png", "data": "%%%"}]}, "file 0 (a.png): 'data' is not valid standard base64"),
    ({"files": [{"name": "a.png", "data": "AA=="}]}, "file 0: field 'media_type' must be a string"),
    ({"file": []}, "missing field 'files'"),
    ([], "expected an object"),
])
def test_file_upload_rejects_bad_responses(response, message):
    with pytest.raises(PayloadError, match=None) as err:
        ftr.File.Upload(types=[".png"], max_files=2).bind(response)
    assert message in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"types": ["exe"]}, "file type 'exe' is not a file extension ('.pt'), a media type ('video/mp4'), "
                         "a media type pattern ('audio/*') or '*' (any file)"),
    ({"types": [".tar.gz"]}, "file type '.tar.gz' is not a file extension"),
    ({"types": ["audio/"]}, "file type 'audio/' is not a file extension"),
    ({"types": ["*/*"]}, "file type '*/*' is not a file extension"),
    ({"types": [3]}, "file type 3 is not a file extension"),
    ({"types": [".png"], "min_files": 3, "max_files": 2}, "max_files (2) < min_files (3)"),
    ({"types": []}, "types must be a non-empty list"),
])
def test_file_upload_invalid_props(kwargs, message):
    with pytest.raises(PropsError) as err:
        ftr.File.Upload(**kwargs)
    assert message in str(err.value)


def test_file_download_round_trip_and_names():
    dl = ftr.File.Download(["text body", b"\x00\x01"], output_filenames=["a.txt", "b.bin"])
    again = roundtrip(dl)
    assert [f.name for f in again.files] == ["a.txt", "b.bin"]
    assert again.files[1].data == b"\x00\x01" and again.files[0].media_type == "text/plain"
    with pytest.raises(PropsError, match="1 output_filenames for 2 file"):
        ftr.File.Download(["a", "b"], output_filenames=["x"])
    with pytest.raises(PayloadError, match="takes no response"):
        dl.bind({})


# ---- Text --------------------------------------------------------------------------------------

def test_text_in_valid_and_invalid():
    t = ftr.Text.In(default_text="hi", num_inputs=2, max_chars=5)
    assert t.bind({"texts": ["a", "bcdef"]}).get() == ["a", "bcdef"]
    for response, message in [({"texts": ["a"]}, "expected 2 text(s)"),
                              ({"texts": ["a", "toolong"]}, "text 1: 7 characters, at most 5 allowed"),
                              ({"texts": ["a", 3]}, "text 1: must be a string"),
                              ({"texts": ["a", "b"], "x": 1}, "unknown field 'x'")]:
        with pytest.raises(PayloadError) as err:
            ftr.Text.In(num_inputs=2, max_chars=5).bind(response)
        assert message in str(err.value)
    with pytest.raises(PropsError, match="max_chars must be a positive integer"):
        ftr.Text.In(max_chars=0)
    with pytest.raises(PayloadError, match="no response was given"):
        ftr.Text.In().get()


def test_text_view():
    assert roundtrip(ftr.Text.View("hello")).get() == ["hello"]
    assert ftr.Text.View(["a", "b"]).value() == {"texts": ["a", "b"]}
    with pytest.raises(PropsError):
        ftr.Text.View(3)


# ---- List ----------------------------------------------------------------------------------------

def test_list_select_one():
    s = ftr.List.SelectOne(["cat", "dog"], style="dropdown")
    assert roundtrip(s).items == ["cat", "dog"]
    assert s.bind({"selected": 1}).get() == "dog" and s.get(return_index=True) == 1
    with pytest.raises(PayloadError, match="index 2 is out of range"):
        s.bind({"selected": 2})
    with pytest.raises(PayloadError, match="must be an integer index"):
        s.bind({"selected": "dog"})
    with pytest.raises(PropsError, match="style must be one of radio, dropdown"):
        ftr.List.SelectOne(["a"], style="grid")


def test_list_select_multi():
    s = ftr.List.SelectMulti(["a", ("b", True), "c"], max_selected=2)
    assert s.value() == {"items": ["a", "b", "c"], "preselected": [1]}
    again = roundtrip(s)
    assert again.preselected == [1] and again.max_selected == 2
    assert s.bind({"selected": [2, 0]}).get() == ["c", "a"]
    assert s.get(return_index=True) == [2, 0]
    assert s.get(return_all=True) == [("a", True), ("b", False), ("c", True)]
    for response, message in [({"selected": [0, 1, 2]}, "3 items selected, at most 2 allowed"),
                              ({"selected": [1, 1]}, "index 1 selected twice"),
                              ({"selected": [5]}, "index 5 is out of range")]:
        with pytest.raises(PayloadError) as err:
            s.bind(response)
        assert message in str(err.value)
    with pytest.raises(PropsError, match="max_selected must be a positive integer"):
        ftr.List.SelectMulti(["a"], max_selected=0)


# ---- Image ---------------------------------------------------------------------------------------

def test_image_with_select_multi_limits_and_round_trip():
    import numpy as np
    images = [np.zeros((3, 4, 3), dtype=np.uint8), png_bytes()]
    c = ftr.Image.WithSelectMulti(images, [["face", ("eye", True)], ["cat"]], max_selected=1)
    again = roundtrip(c)
    assert again.lists == [["face", "eye"], ["cat"]] and again.preselected == [[1], []]
    assert again.images(format="array")[0].shape == (3, 4, 3)
    assert c.bind({"selected": [[1], []]}).get() == [["eye"], []]
    for response, message in [({"selected": [[0, 1], []]}, "image 0: 2 items selected, at most 1 allowed"),
                              ({"selected": [[0]]}, "1 selections for 2 images"),
                              ({"selected": [[0], [3]]}, "image 1[0]: index 3 is out of range")]:
        with pytest.raises(PayloadError) as err:
            c.bind(response)
        assert message in str(err.value)
    with pytest.raises(PropsError, match="1 lists for 2 images"):
        ftr.Image.WithSelectMulti(images, [["a"]])
    with pytest.raises(PropsError, match="image 0: an image array must have dtype uint8"):
        ftr.Image.WithSelectMulti([np.zeros((2, 2), dtype=np.float32)], [["a"]])


def test_image_with_select_one():
    c = ftr.Image.WithSelectOne([png_bytes(), png_bytes()], [["a", "b"], ["c"]])
    assert roundtrip(c).lists == [["a", "b"], ["c"]]
    assert c.bind({"selected": [1, 0]}).get() == ["b", "c"]
    with pytest.raises(PayloadError, match="image 1: index 1 is out of range"):
        c.bind({"selected": [0, 1]})
    with pytest.raises(PropsError, match="lists\\[0\\] is empty"):
        ftr.Image.WithSelectOne([png_bytes()], [[]])


def test_image_with_text_in_and_view():
    c = ftr.Image.WithTextIn([png_bytes()], max_chars=3)
    assert roundtrip(c).max_chars == 3
    assert c.bind({"texts": ["abc"]}).get() == ["abc"]
    with pytest.raises(PayloadError, match="text 0: 4 characters, at most 3 allowed"):
        c.bind({"texts": ["abcd"]})
    with pytest.raises(PayloadError, match="expected 1 text"):
        c.bind({"texts": []})
    v = ftr.Image.View([png_bytes(), png_bytes()], output_text=["one", None])
    assert roundtrip(v).get() == ["one", None]
    with pytest.raises(PropsError, match="1 output_text entries for 2 images"):
        ftr.Image.View([png_bytes(), png_bytes()], output_text=["x"])
    with pytest.raises(PropsError, match="cannot use a int as an image"):
        ftr.Image.View([3])


def test_binary_values_use_one_encoding():
    out = ftr.Image.View([png_bytes()]).to_output("pics")
    blob = out["value"]["images"][0]
    assert set(blob) == {"name", "media_type", "data"}
    assert blob["media_type"] == "image/png" and base64.b64decode(blob["data"]).startswith(b"\x89PNG")


# ---- Document ------------------------------------------------------------------------------------

def test_document_components():
    d = ftr.Document.WithTextIn(["first doc", "second"], max_chars=10)
    assert roundtrip(d).documents() == ["first doc", "second"]
    assert d.bind({"texts": ["x", "y"]}).get() == ["x", "y"]
    with pytest.raises(PayloadError, match="text 1: 11 characters, at most 10 allowed"):
        d.bind({"texts": ["x", "y" * 11]})
    v = ftr.Document.View(["body"], output_text="summary")
    assert roundtrip(v).get() == ["summary"] and roundtrip(v).documents(format="bytes") == [b"body"]
    with pytest.raises(PayloadError, match="'data' is not valid standard base64"):
        ftr.Document.View.from_output({}, {"documents": [{"name": "a", "media_type": "text/plain", "data": "@"}], "texts": [None]})


def test_every_component_describes_itself():
    from feather.component import registry
    ids = sorted(registry())
    assert ids == sorted(["File.Upload", "File.Download", "Text.In", "Text.View", "List.SelectOne",
                          "List.SelectMulti", "Image.WithSelectOne", "Image.WithSelectMulti",
                          "Image.WithTextIn", "Image.View", "Document.WithTextIn", "Document.View"])
    for cid, cls in registry().items():
        d = cls.describe()
        assert d["component"] == cid and d["version"] == 1
        assert (d["schema"]["response"] is not None) == cls.interactive

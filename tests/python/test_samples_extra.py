"""The samples beyond hello and vqg: each runs locally through `python3 -m feather run` (the same
code path as the container runtime) and its real outputs are checked."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import REPO, feather

SAMPLES = REPO / "samples"


def run_sample(sample: str, inputs: dict | None = None, tmp_path: Path | None = None) -> tuple[dict, str, int]:
    """Runs every step of a sample with its example inputs (or `inputs`); returns (--json output, stderr, rc)."""
    inputs_file = SAMPLES / sample / "example-inputs.json"
    if inputs is not None:
        assert tmp_path is not None
        inputs_file = tmp_path / "inputs.json"
        inputs_file.write_text(json.dumps(inputs))
    proc = feather("run", str(SAMPLES / sample), "--inputs", str(inputs_file), "--json")
    out = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return out, proc.stderr, proc.returncode


def outputs_of(result: dict, step: int) -> dict[str, dict]:
    return {o["name"]: o for o in result["steps"][step]["outputs"]}


def png_payload(name: str, array: np.ndarray) -> dict:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return {"name": name, "media_type": "image/png", "data": base64.b64encode(buf.getvalue()).decode()}


def decode_image(blob: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(blob["data"])))


# ---- image-classifier ------------------------------------------------------------------------

def test_classifier_labels_the_example_digits():
    out, err, rc = run_sample("image-classifier")
    assert rc == 0, err
    labels = outputs_of(out, 0)["labels"]
    assert labels["component"] == "Image.View"
    assert [b["name"] for b in labels["value"]["images"]] == ["digit-3.png", "digit-7.png", "digit-0.png"]
    captions = labels["value"]["texts"]
    assert [c.split(" ")[0] for c in captions] == ["3", "7", "0"]
    confidences = [float(c.split("(")[1].rstrip("%)")) for c in captions]
    assert all(50 < p <= 100 for p in confidences)
    lines = outputs_of(out, 0)["probabilities"]["value"]["texts"]
    assert lines[0].startswith("digit-3.png: 3 (3: ") and len(lines) == 3
    assert "classified 3 image(s)" in err


def test_classifier_is_accurate_on_held_out_digits_uploaded_as_png_and_jpg(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    _, images, _, targets = train_test_split(digits.images, digits.target, test_size=0.25,
                                             random_state=0, stratify=digits.target)  # the split train.py held out
    files = []
    for i in range(10):  # ten held-out digits: light ink on black, bigger, one as JPEG
        grey = (images[i] * 255 / 16).round().astype(np.uint8)
        big = np.asarray(Image.fromarray(grey).resize((40, 40), Image.NEAREST))
        if i == 0:
            buf = io.BytesIO()
            Image.fromarray(big).save(buf, format="JPEG", quality=95)
            files.append({"name": "d0.jpg", "media_type": "image/jpeg", "data": base64.b64encode(buf.getvalue()).decode()})
        else:
            files.append(png_payload(f"d{i}.png", big))
    out, err, rc = run_sample("image-classifier", {"steps": [{"images": {"files": files}}]}, tmp_path)
    assert rc == 0, err
    predicted = [int(c.split(" ")[0]) for c in outputs_of(out, 0)["labels"]["value"]["texts"]]
    assert sum(p == t for p, t in zip(predicted, targets[:10])) >= 9, (predicted, list(targets[:10]))


def test_classifier_refuses_a_text_file(tmp_path):
    bad = {"name": "notes.txt", "media_type": "text/plain", "data": base64.b64encode(b"7").decode()}
    out, err, rc = run_sample("image-classifier", {"steps": [{"images": {"files": [bad]}}]}, tmp_path)
    assert rc == 1 and out["status"] == "invalid_input"
    assert "invalid input 'images': file 0 (notes.txt): type .txt not accepted" in err


def test_classifier_weights_are_plain_arrays_and_bundled():
    with np.load(SAMPLES / "image-classifier" / "weights.npz", allow_pickle=False) as npz:
        assert npz["coef"].shape == (10, 64) and npz["intercept"].shape == (10,)
        assert list(npz["classes"]) == list(range(10))
    proc = feather("inspect", str(SAMPLES / "image-classifier"))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)
    assert meta["bundle"] == {"code": ["model.py"], "model": ["weights.npz"]}
    assert meta["environment"]["system_packages"] == ["python3-numpy", "python3-pil"]
    assert [i["provided_by"] for i in meta["environment"]["imports"]] == ["system_packages", "system_packages"]


# ---- digits-centroid -------------------------------------------------------------------------

def test_centroid_classifier_labels_the_example_digits():
    out, err, rc = run_sample("digits-centroid")
    assert rc == 0, err
    labels = outputs_of(out, 0)["labels"]
    assert [b["name"] for b in labels["value"]["images"]] == ["digit-3.png", "digit-7.png", "digit-0.png"]
    assert [c.split(" ")[0] for c in labels["value"]["texts"]] == ["3", "7", "0"]
    lines = outputs_of(out, 0)["distances"]["value"]["texts"]
    assert lines[0].startswith("digit-3.png: 3 (3: ") and len(lines) == 3
    assert "classified 3 image(s)" in err


def test_centroid_classifier_is_weaker_than_the_logistic_regression_on_held_out_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    _, x_test, _, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.25,
                                            random_state=0, stratify=digits.target)
    with np.load(SAMPLES / "digits-centroid" / "centroids.npz", allow_pickle=False) as npz:
        centroids, classes = npz["centroids"].astype(np.float64), npz["classes"]
        assert centroids.shape == (10, 64) and list(classes) == list(range(10))
    with np.load(SAMPLES / "image-classifier" / "weights.npz", allow_pickle=False) as npz:
        coef, intercept = npz["coef"].astype(np.float64), npz["intercept"].astype(np.float64)
    centroid = (classes[((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)] == y_test).mean()
    logistic = ((x_test @ coef.T + intercept).argmax(axis=1) == y_test).mean()
    assert 0.85 < centroid < logistic, (centroid, logistic)


def test_centroid_classifier_evaluates_below_the_logistic_regression_on_digits_heldout():
    scores = {}
    for sample in ("digits-centroid", "image-classifier"):
        proc = feather("evaluate", str(SAMPLES / sample), "--dataset", str(SAMPLES / "datasets" / "digits-heldout"), "--json")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["records"] == 450 and result["primary_metric"] == "accuracy"
        scores[sample] = result["metrics"]
    assert round(scores["digits-centroid"]["accuracy"], 4) == 0.9067   # 408 of 450, as train.py prints
    assert scores["digits-centroid"]["accuracy"] < scores["image-classifier"]["accuracy"]
    assert scores["digits-centroid"]["macro_f1"] < scores["image-classifier"]["macro_f1"]


# ---- text-tools ------------------------------------------------------------------------------

def _file(output: dict) -> tuple[str, str, str]:
    blob = output["value"]["files"][0]
    return blob["name"], blob["media_type"], base64.b64decode(blob["data"]).decode("utf-8")


def test_text_tools_offers_keywords_and_exports_csv():
    out, err, rc = run_sample("text-tools")
    assert rc == 0, err
    offered = outputs_of(out, 0)
    assert offered["keywords"]["component"] == "List.SelectMulti"
    assert offered["keywords"]["value"]["items"][:4] == ["container (4)", "model (3)", "step (3)", "run (2)"]
    assert offered["keywords"]["value"]["preselected"] == [0, 1, 2]
    assert offered["keywords"]["props"]["max_selected"] == 5
    assert offered["format"]["value"]["items"] == ["CSV", "JSON", "Markdown table"]
    assert offered["format"]["props"]["style"] == "dropdown"
    name, media_type, text = _file(outputs_of(out, 1)["report"])
    assert (name, media_type) == ("keywords.csv", "text/csv")
    lines = text.splitlines()
    assert lines[0] == "word,count,share,sentences,context"
    assert lines[1].startswith("container,4,0.0563,1 2 3 5,") and "[container]" in lines[1]
    assert [line.split(",")[0] for line in lines[1:]] == ["container", "model", "step"]
    summary = outputs_of(out, 1)["summary"]["value"]["texts"]
    assert summary[0] == "3 keyword(s) of 71 words in 5 sentences, as CSV:"
    assert "71 words, 5 sentences" in err


def test_text_tools_json_and_markdown_exports(tmp_path):
    inputs = json.loads((SAMPLES / "text-tools" / "example-inputs.json").read_text())
    inputs["steps"][1] = {"keywords": {"selected": [3, 0]}, "format": {"selected": 1}}
    out, err, rc = run_sample("text-tools", inputs, tmp_path)
    assert rc == 0, err
    name, media_type, text = _file(outputs_of(out, 1)["report"])
    assert (name, media_type) == ("keywords.json", "application/json")
    rows = json.loads(text)
    assert [(r["word"], r["count"], r["sentences"]) for r in rows] == [("container", 4, [1, 2, 3, 5]), ("run", 2, [5])]
    inputs["steps"][1]["format"] = {"selected": 2}
    out, err, rc = run_sample("text-tools", inputs, tmp_path)
    assert rc == 0, err
    name, media_type, text = _file(outputs_of(out, 1)["report"])
    assert (name, media_type) == ("keywords.md", "text/markdown")
    assert text.splitlines()[2] == "| container | 4 | 5.6% | 1, 2, 3, 5 | ...ry step of a model in a fresh [container]. |"


def test_text_tools_rejects_six_keywords_and_an_unknown_format(tmp_path):
    inputs = json.loads((SAMPLES / "text-tools" / "example-inputs.json").read_text())
    inputs["steps"][1] = {"keywords": {"selected": [0, 1, 2, 3, 4, 5]}, "format": {"selected": 0}}
    out, err, rc = run_sample("text-tools", inputs, tmp_path)
    assert rc == 1 and out["status"] == "invalid_input"
    assert "invalid input 'keywords'" in err and "at most 5" in err
    inputs["steps"][1] = {"keywords": {"selected": [0]}, "format": {"selected": 3}}
    out, err, rc = run_sample("text-tools", inputs, tmp_path)
    assert rc == 1 and "invalid input 'format'" in err


def test_text_tools_fails_clearly_on_a_text_without_words(tmp_path):
    out, err, rc = run_sample("text-tools", {"steps": [{"text": {"texts": ["a an the of 42 !"]}}]}, tmp_path)
    assert rc == 1 and out["status"] == "failed"
    assert "ValueError: the text has no words to count" in err


# ---- doc-annotator ---------------------------------------------------------------------------

def test_doc_annotator_highlights_terms_and_indexes_lines():
    out, err, rc = run_sample("doc-annotator")
    assert rc == 0, err
    shown = outputs_of(out, 0)["terms"]
    assert shown["component"] == "Document.WithTextIn" and shown["props"]["max_chars"] == 200
    assert [d["name"] for d in shown["value"]["documents"]] == ["sandbox.md", "publishing.txt"]
    assert outputs_of(out, 0)["line_counts"]["value"] == [5, 3]
    view = outputs_of(out, 1)["annotated"]
    assert view["component"] == "Document.View"
    assert view["value"]["texts"] == ["sandbox.md: 3 of 4 term(s) found in 5 lines",
                                      "publishing.txt: 2 of 2 term(s) found in 3 lines"]
    docs = [(d["name"], d["media_type"], base64.b64decode(d["data"]).decode()) for d in view["value"]["documents"]]
    assert [(n, m) for n, m, _ in docs] == [("sandbox.annotated.md", "text/markdown"),
                                            ("publishing.annotated.md", "text/markdown")]
    sandbox = docs[0][2]
    assert "The **container** has no network and a **read-only root**." in sandbox
    assert "- step: 3 line(s): 1, 3, 5" in sandbox and "- GPU: not found" in sandbox
    assert "Versions are immutable; the live **version** is" in docs[1][2]
    assert "read 2 document(s), 8 lines" in err


def test_doc_annotator_needs_one_text_per_document_and_rejects_pdf(tmp_path):
    inputs = json.loads((SAMPLES / "doc-annotator" / "example-inputs.json").read_text())
    inputs["steps"][1] = {"terms": {"texts": ["container"]}}
    out, err, rc = run_sample("doc-annotator", inputs, tmp_path)
    assert rc == 1 and out["status"] == "invalid_input" and "invalid input 'terms'" in err
    pdf = {"name": "paper.pdf", "media_type": "application/pdf", "data": base64.b64encode(b"%PDF-1.4").decode()}
    out, err, rc = run_sample("doc-annotator", {"steps": [{"documents": {"files": [pdf]}}]}, tmp_path)
    assert rc == 1 and "type .pdf not accepted" in err


def test_doc_annotator_says_which_file_is_not_utf8(tmp_path):
    latin = {"name": "old.txt", "media_type": "text/plain", "data": base64.b64encode("caf\xe9".encode("latin-1")).decode()}
    out, err, rc = run_sample("doc-annotator", {"steps": [{"documents": {"files": [latin]}}]}, tmp_path)
    assert rc == 1 and out["status"] == "failed"
    assert "ValueError: old.txt is not UTF-8 text" in err


# ---- image-tools -----------------------------------------------------------------------------

def test_image_tools_filters_captions_and_offers_downloads():
    out, err, rc = run_sample("image-tools")
    assert rc == 0, err
    offered = outputs_of(out, 0)["filters"]
    assert offered["component"] == "Image.WithSelectOne"
    assert offered["value"]["lists"] == [["original", "greyscale", "edges", "invert", "posterize"]] * 2
    step2 = outputs_of(out, 1)
    assert step2["captions"]["component"] == "Image.WithTextIn"
    assert [b["name"] for b in step2["captions"]["value"]["images"]] == ["astronaut-invert.png", "cameraman-edges.png"]
    assert step2["stems"]["value"] == ["astronaut-invert", "cameraman-edges"]
    assert "filters: astronaut=invert, cameraman=edges" in err

    original = np.asarray(Image.open(SAMPLES / "image-tools/images/astronaut.jpg").convert("RGB"), dtype=np.int16)
    inverted = np.asarray(decode_image(step2["captions"]["value"]["images"][0]).convert("RGB"), dtype=np.int16)
    assert inverted.shape == original.shape and np.array_equal(inverted, 255 - original)
    edges = np.asarray(decode_image(step2["captions"]["value"]["images"][1]).convert("RGB"))
    assert np.array_equal(edges[..., 0], edges[..., 2])  # grey

    final = outputs_of(out, 2)
    view, download = final["captioned"]["value"], final["files"]["value"]
    assert view["texts"] == ["An astronaut, inverted: the white suit turns dark.", "Edges of the cameraman"]
    assert [b["name"] for b in download["files"]] == ["astronaut-invert-captioned.png", "cameraman-edges-captioned.png"]
    assert [b["data"] for b in download["files"]] == [b["data"] for b in view["images"]]
    captioned = np.asarray(decode_image(view["images"][0]).convert("RGB"), dtype=np.int16)
    height = original.shape[0]
    assert captioned.shape[1] == original.shape[1] and captioned.shape[0] == height + 8 + 12 * 3  # 3 wrapped lines
    assert np.array_equal(captioned[:height], inverted)
    band = captioned[height:]
    assert (band == 255).mean() > 0.7 and (band < 100).any()  # white band with dark text


def test_image_tools_rejects_a_filter_index_out_of_range(tmp_path):
    inputs = json.loads((SAMPLES / "image-tools" / "example-inputs.json").read_text())
    inputs["steps"][1] = {"filters": {"selected": [5, 0]}}
    out, err, rc = run_sample("image-tools", inputs, tmp_path)
    assert rc == 1 and out["status"] == "invalid_input" and "invalid input 'filters'" in err
    inputs["steps"][1] = {"filters": {"selected": [0, 0]}}
    inputs["steps"][2] = {"captions": {"texts": ["x" * 121, "ok"]}}
    out, err, rc = run_sample("image-tools", inputs, tmp_path)
    assert rc == 1 and "invalid input 'captions'" in err


# ---- all samples together --------------------------------------------------------------------

TWELVE = {"File.Upload", "File.Download", "Text.In", "Text.View", "List.SelectOne", "List.SelectMulti",
          "Image.WithSelectOne", "Image.WithSelectMulti", "Image.WithTextIn", "Image.View",
          "Document.WithTextIn", "Document.View"}


def test_the_samples_use_all_twelve_components_between_them():
    used: dict[str, set[str]] = {}
    for directory in sorted(p for p in SAMPLES.iterdir() if (p / "model.py").exists()):
        proc = feather("inspect", str(directory))
        assert proc.returncode == 0, f"{directory.name}: {proc.stderr}"
        meta = json.loads(proc.stdout)
        assert meta["name"] == directory.name
        assert (directory / "README.md").exists() and (directory / "example-inputs.json").exists()
        for step in meta["steps"]:
            for io_ in step["inputs"] + step["outputs"]:
                used.setdefault(io_["component"], set()).add(directory.name)
    assert TWELVE - set(used) == set()
    assert used["Image.WithTextIn"] == {"image-tools"} and used["Document.View"] == {"doc-annotator"}

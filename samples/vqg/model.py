"""vqg: visual question generation in three steps, in the shape of the paper's VQG example.

1. The user uploads images.
2. OpenCV's Haar cascades (Debian: python3-opencv, opencv-data) detect faces, profiles, eyes
   and smiles; the user selects at most two detected objects per image.
3. A deterministic template grammar turns the selected objects into one question per image.
"""
import cv2
import numpy as np

import feather as ftr
from questions import question_for

CASCADES = "/usr/share/opencv4/haarcascades/"


def _cascade(name: str) -> "cv2.CascadeClassifier":
    classifier = cv2.CascadeClassifier(CASCADES + name)
    if classifier.empty():
        raise RuntimeError(f"cannot load {CASCADES + name}; is the Debian package opencv-data installed?")
    return classifier


def _position(x: int, y: int, w: int, h: int, width: int, height: int) -> str:
    cx, cy = (x + w / 2) / width, (y + h / 2) / height
    column = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    return f"{row} {column}"


def detect_objects(rgb: np.ndarray) -> list[dict]:
    """Faces (frontal, then profile), with eyes and smiles looked for inside each face."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    found = []
    faces = [("face", box) for box in _cascade("haarcascade_frontalface_default.xml").detectMultiScale(gray, 1.1, 5, minSize=(24, 24))]
    if not faces:
        faces = [("face in profile", box) for box in _cascade("haarcascade_profileface.xml").detectMultiScale(gray, 1.1, 4, minSize=(24, 24))]
    for kind, (x, y, w, h) in faces:
        found.append({"kind": kind, "box": [int(x), int(y), int(w), int(h)]})
        roi = gray[y:y + h, x:x + w]
        for (ex, ey, ew, eh) in _cascade("haarcascade_eye.xml").detectMultiScale(roi[: h // 2 + h // 6], 1.1, 5):
            found.append({"kind": "eye", "box": [int(x + ex), int(y + ey), int(ew), int(eh)]})
        for (sx, sy, sw, sh) in _cascade("haarcascade_smile.xml").detectMultiScale(roi[h // 2:], 1.5, 15):
            found.append({"kind": "smile", "box": [int(x + sx), int(y + h // 2 + sy), int(sw), int(sh)]})
    for obj in found:
        obj["where"] = _position(*obj["box"], width, height)
    found.sort(key=lambda o: (o["box"][0], o["box"][1]))
    return found


def _label(index: int, obj: dict) -> str:
    return f"{index + 1}: {obj['kind']} at {obj['where']}"


def _draw(rgb: np.ndarray, objects: list[dict]) -> np.ndarray:
    out = rgb.copy()
    for i, obj in enumerate(objects):
        x, y, w, h = obj["box"]
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 200, 0), 2)
        cv2.putText(out, str(i + 1), (x + 2, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 200, 0), 1)
    return out


def init():
    return ftr.File.Upload(types=[".jpg", ".jpeg", ".png"], min_files=1, max_files=5,
                           title="Upload images", description="Photos with people in them work best.")


@ftr.step(title="Detect objects", description="Finds faces, eyes and smiles with OpenCV Haar cascades.")
def detect(images: ftr.File.Upload) -> tuple[ftr.Image.WithSelectMulti, list]:
    arrays = images.get(format="array")
    detections = [detect_objects(rgb) for rgb in arrays]
    print(f"detected {[len(d) for d in detections]} objects")  # goes to the step's log
    shown = [_draw(rgb, objs) for rgb, objs in zip(arrays, detections)]
    lists = [[_label(i, o) for i, o in enumerate(objs)] for objs in detections]
    selector = ftr.Image.WithSelectMulti(images=shown, lists=lists, max_selected=2,
                                         title="Select objects",
                                         description="Pick up to two objects per image to ask about.")
    return selector, detections


@ftr.step(title="Generate questions", description="One question per image about the selected objects.",
          outputs=["questions"])
def generate(objects: ftr.Image.WithSelectMulti, detections: list) -> ftr.Image.View:
    chosen = objects.get(return_index=True)
    questions = [question_for([dets[j] for j in picks]) for dets, picks in zip(detections, chosen)]
    return ftr.Image.View(images=objects.images(format="file"), output_text=questions, title="Questions")


ftr.build(
    name="vqg",
    init=init,
    steps=[detect, generate],
    description="Visual question generation: detect objects, pick some, get a question about them.",
    file_bundle=ftr.bundle(code_files=["model.py", "questions.py"]),
    tasks=["visual-question-generation", "object-detection"],
    profile="low",
    system_packages=["opencv-data", "python3-numpy", "python3-opencv", "python3-pil"],
)

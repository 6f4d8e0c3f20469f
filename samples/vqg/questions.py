"""A small deterministic question grammar over detected objects (kind + position).

S      -> ONE(obj) | TWO(obj, obj) | NONE
ONE    -> a template for the object's kind, filled with its position
TWO    -> a template for the pair of kinds, filled with both positions
The template is chosen by a stable hash of the objects, so the same selection always gives the
same question.
"""
from __future__ import annotations

import hashlib

ONE = {
    "face": ["Who is the person whose face is at the {where} of the picture?",
             "What is the person at the {where} thinking about?",
             "How old does the person at the {where} look?"],
    "face in profile": ["What is the person at the {where} looking at?",
                        "What is the person at the {where} doing?"],
    "eye": ["What colour is the eye at the {where}?",
            "Where is the eye at the {where} looking?"],
    "smile": ["Why is the person at the {where} smiling?",
              "What made the person at the {where} smile?"],
}
TWO = {
    ("eye", "eye"): ["Are both eyes, at the {a} and the {b}, looking at the camera?",
                     "Are the eyes at the {a} and the {b} the same colour?"],
    ("eye", "face"): ["Is the person with the face at the {b} looking at us with the eye at the {a}?"],
    ("face", "smile"): ["Is the person whose face is at the {a} smiling because of something at the {b}?"],
    ("face", "face"): ["Do the people at the {a} and the {b} know each other?"],
}
GENERIC_TWO = "What connects the {ka} at the {a} and the {kb} at the {b}?"
NONE = "What is happening in this picture?"


def _pick(options: list[str], key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return options[digest[0] % len(options)]


def question_for(objects: list[dict]) -> str:
    """objects: [{"kind", "where", ...}] (at most two). Returns one question."""
    if not objects:
        return NONE
    key = "|".join(f"{o['kind']}@{o['where']}" for o in objects)
    if len(objects) == 1:
        obj = objects[0]
        return _pick(ONE.get(obj["kind"], ["What is the {kind} at the {where}?"]), key).format(**obj)
    first, second = sorted(objects[:2], key=lambda o: o["kind"])
    templates = TWO.get((first["kind"], second["kind"]))
    if templates is None:
        return GENERIC_TWO.format(ka=first["kind"], a=first["where"], kb=second["kind"], b=second["where"])
    return _pick(templates, key).format(a=first["where"], b=second["where"])

"""Writes the short-news topics data: samples/datasets/topics-heldout/records.jsonl (the held-out split, 240
sentences) and samples/text-topics/train.jsonl (the training split, 720 sentences), both deterministic.

    /usr/bin/python3 samples/datasets/topics-heldout/make_dataset.py     # standard library only

There is no text corpus that ships with Debian's packages to build from offline, so the sentences are generated
here from the word lists below (written for Feather; dedicated to the public domain, CC0-1.0): each sentence is a
template filled with words of its topic, ordinary filler words, and in some sentences words of another topic
(a distractor), so that a keyword model is often right but not always. Some words belong to two topics ("court",
"chip", "cloud", "record", "season", ...), which makes the task harder still. The two splits are made by the
same generator from different seeds, so no sentence of the held-out split is a copy of a training sentence
(checked below).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = HERE.parent.parent / "text-topics" / "train.jsonl"
TOPICS = ["sport", "weather", "food", "technology"]

WORDS = {
    "sport": {
        "noun": ["match", "goal", "striker", "coach", "league", "final", "referee", "stadium", "team", "keeper",
                 "tournament", "medal", "race", "court", "season", "record", "penalty", "captain", "fans", "derby"],
        "verb": ["won", "lost", "scored", "defended", "trained", "qualified", "drew", "beat", "celebrated", "sprinted"],
        "adj": ["unbeaten", "injured", "decisive", "late", "home", "away", "fastest", "defending"],
    },
    "weather": {
        "noun": ["storm", "rain", "forecast", "wind", "snow", "fog", "heatwave", "thunder", "frost", "cloud",
                 "flood", "temperature", "drought", "hail", "sunshine", "season", "record", "gust", "showers", "humidity"],
        "verb": ["hit", "swept", "flooded", "cooled", "warmed", "cleared", "drenched", "battered", "lingered", "eased"],
        "adj": ["cold", "wet", "humid", "freezing", "stormy", "mild", "dry", "windy"],
    },
    "food": {
        "noun": ["recipe", "chef", "bread", "soup", "restaurant", "dessert", "menu", "cheese", "harvest", "spice",
                 "kitchen", "sauce", "bakery", "chip", "dinner", "market", "flavour", "pastry", "vegetables", "wine"],
        "verb": ["baked", "cooked", "served", "tasted", "roasted", "seasoned", "grilled", "simmered", "ordered", "shared"],
        "adj": ["fresh", "spicy", "sweet", "crispy", "local", "seasonal", "creamy", "bitter"],
    },
    "technology": {
        "noun": ["software", "chip", "network", "server", "app", "update", "robot", "battery", "cloud", "laptop",
                 "algorithm", "startup", "browser", "data", "screen", "record", "court", "processor", "sensor", "code"],
        "verb": ["launched", "released", "patched", "crashed", "upgraded", "encrypted", "shipped", "tested", "hacked", "streamed"],
        "adj": ["wireless", "faster", "open", "digital", "new", "secure", "smart", "mobile"],
    },
}
FILLER = {
    "place": ["in the north", "across the city", "near the coast", "in the capital", "over the weekend", "on Monday",
              "this morning", "late last night", "in the valley", "downtown"],
    "who": ["the council", "local people", "a spokesperson", "the organisers", "residents", "experts", "the mayor",
            "visitors", "a reporter", "officials"],
}
TEMPLATES = [
    "The {adj} {noun} {verb} {place}, {who} said.",
    "{who} {verb} after the {noun} and the {noun2} {place}.",
    "A {adj} {noun} {verb} {place} as the {noun2} drew attention.",
    "{place}, the {noun} {verb} and {who} talked about the {adj} {noun2}.",
    "Why the {noun} {verb}: {who} explain the {adj} {noun2}.",
    "{who} expect another {adj} {noun} {place}.",
]


def sentence(rng: random.Random, topic: str) -> str:
    words = WORDS[topic]
    parts = {
        "adj": rng.choice(words["adj"]), "noun": rng.choice(words["noun"]), "noun2": rng.choice(words["noun"]),
        "verb": rng.choice(words["verb"]), "place": rng.choice(FILLER["place"]), "who": rng.choice(FILLER["who"]),
    }
    # a distractor in 45 % of the sentences: one or two slots take another topic's words
    if rng.random() < 0.45:
        other = WORDS[rng.choice([t for t in TOPICS if t != topic])]
        for slot in rng.sample(["adj", "noun2", "verb"], k=rng.choice([1, 1, 2])):
            parts[slot] = rng.choice(other["noun" if slot == "noun2" else slot])
    text = rng.choice(TEMPLATES).format(**parts)
    return text[0].upper() + text[1:]


def split(seed: int, per_topic: int, avoid: set[str]) -> list[dict]:
    rng = random.Random(seed)
    records: list[dict] = []
    seen = set(avoid)
    for topic in TOPICS:
        made = 0
        while made < per_topic:
            text = sentence(rng, topic)
            if text in seen:
                continue
            seen.add(text)
            records.append({"text": text, "topic": topic})
            made += 1
    rng.shuffle(records)
    return records


def main() -> None:
    train = split(seed=2024, per_topic=180, avoid=set())
    heldout = split(seed=7, per_topic=60, avoid={r["text"] for r in train})
    assert not {r["text"] for r in train} & {r["text"] for r in heldout}
    for path, records in ((TRAIN, train), (HERE / "records.jsonl", heldout)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print(f"{path}: {len(records)} records")


if __name__ == "__main__":
    main()

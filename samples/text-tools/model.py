"""text-tools: keywords of a text, exported as a file. Two steps, standard library only.

1. The user pastes a text (`Text.In`).
2. `analyse` counts the words (stop words left out) and offers the ten most frequent ones
   (`List.SelectMulti`, the top three preselected, at most five) and an export format
   (`List.SelectOne` as a dropdown). The counts travel to the next step as a JSON value.
3. `export` writes a keyword table (count, share, sentences where each word occurs, a line of
   context) as CSV, JSON or Markdown (`File.Download`) and a summary (`Text.View`).
"""
from __future__ import annotations

import csv
import io
import json
import re

import feather as ftr

STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves also one may many much every upon
""".split())
FORMATS = ["CSV", "JSON", "Markdown table"]
EXTENSIONS = {"CSV": "csv", "JSON": "json", "Markdown table": "md"}
EXAMPLE = ("Feather runs every step of a model in a fresh container. A container has no network, "
           "a read-only root and a small scratch space. The model developer declares the steps, "
           "and the platform builds the container image once per set of dependencies. "
           "A model consumer uploads data, picks what matters, and gets the result of each step. "
           "Because every step starts a new container, one run cannot leak into another run.")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z'-]*[a-z]|[a-z]", text.lower())


def analyse_text(text: str) -> dict:
    """{"total_words", "sentences": [...], "keywords": [{"word", "count", "sentences": [1-based]}]}"""
    sents = sentences(text)
    counts: dict[str, int] = {}
    where: dict[str, list[int]] = {}
    total = 0
    for number, sentence in enumerate(sents, start=1):
        for word in words(sentence):
            total += 1
            if word in STOP_WORDS or len(word) < 3:
                continue
            counts[word] = counts.get(word, 0) + 1
            if number not in where.setdefault(word, []):
                where[word].append(number)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))  # ties alphabetical: deterministic
    return {"total_words": total, "sentences": sents,
            "keywords": [{"word": w, "count": counts[w], "sentences": where[w]} for w in ranked]}


def init():
    return ftr.Text.In(default_text=EXAMPLE, max_chars=20000, title="Text",
                       description="Any English text; the most frequent words are offered next.")


@ftr.step(title="Pick keywords", description="Counts the words and offers the most frequent ones.")
def analyse(text: ftr.Text.In) -> tuple[ftr.List.SelectMulti, ftr.List.SelectOne, dict]:
    body = text.get()[0]
    analysis = analyse_text(body)
    top = analysis["keywords"][:10]
    if not top:
        raise ValueError("the text has no words to count (stop words and one- or two-letter words are left out)")
    analysis["keywords"] = top
    analysis["text"] = body
    print(f"{analysis['total_words']} words, {len(analysis['sentences'])} sentences")
    items = [(f"{k['word']} ({k['count']})", i < 3) for i, k in enumerate(top)]
    return (ftr.List.SelectMulti(items, max_selected=5, title="Keywords",
                                 description="Up to five words to export; the three most frequent are preselected."),
            ftr.List.SelectOne(FORMATS, style="dropdown", title="Export format"),
            analysis)


def _context(sentence: str, word: str, width: int = 30) -> str:
    match = re.search(rf"(?i)\b{re.escape(word)}\b", sentence)
    if not match:
        return sentence[: 2 * width]
    start, end = max(0, match.start() - width), min(len(sentence), match.end() + width)
    return ("..." if start else "") + sentence[start:match.start()] + "[" + match.group(0) + "]" \
        + sentence[match.end():end] + ("..." if end < len(sentence) else "")


def table(analysis: dict, chosen: list[int]) -> list[dict]:
    rows = []
    for i in chosen:
        k = analysis["keywords"][i]
        first = analysis["sentences"][k["sentences"][0] - 1]
        rows.append({"word": k["word"], "count": k["count"],
                     "share": round(k["count"] / analysis["total_words"], 4),
                     "sentences": k["sentences"], "context": _context(first, k["word"])})
    return rows


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "JSON":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "CSV":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["word", "count", "share", "sentences", "context"])
        for r in rows:
            writer.writerow([r["word"], r["count"], r["share"], " ".join(map(str, r["sentences"])), r["context"]])
        return buf.getvalue()
    lines = ["| word | count | share | sentences | context |", "|---|---|---|---|---|"]
    for r in rows:
        context = r["context"].replace("|", "\\|")
        lines.append(f"| {r['word']} | {r['count']} | {r['share']:.1%} | {', '.join(map(str, r['sentences']))} | {context} |")
    return "\n".join(lines) + "\n"


@ftr.step(title="Export", description="Writes the chosen keywords as a file.", outputs=["report", "summary"])
def export(keywords: ftr.List.SelectMulti, format: ftr.List.SelectOne, analysis: dict) -> tuple[ftr.File.Download, ftr.Text.View]:
    chosen = sorted(keywords.get(return_index=True))
    if not chosen:
        raise ValueError("select at least one keyword to export")
    fmt = format.get()
    rows = table(analysis, chosen)
    name = f"keywords.{EXTENSIONS[fmt]}"
    summary = [f"{len(rows)} keyword(s) of {analysis['total_words']} words in {len(analysis['sentences'])} sentences, as {fmt}:"]
    summary += [f"{r['word']}: {r['count']} times, in sentence(s) {', '.join(map(str, r['sentences']))}" for r in rows]
    return (ftr.File.Download([ftr.Blob(name, render(rows, fmt).encode("utf-8"))], title="Keyword table"),
            ftr.Text.View(summary, title="Summary"))


ftr.build(
    name="text-tools",
    init=init,
    steps=[analyse, export],
    description="Finds a text's keywords; pick some and download them as CSV, JSON or Markdown.",
    tasks=["keyword-extraction"],
    profile="low",
)

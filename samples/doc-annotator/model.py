"""doc-annotator: highlight terms in text documents. Two steps, standard library only.

1. The user uploads text documents (`File.Upload`, .txt/.md).
2. `read` shows them (`Document.WithTextIn`), each with a box for the terms to look for
   (comma-separated); it also passes each document's line count on as a JSON value.
3. `annotate` returns the documents annotated (`Document.View`): every occurrence of a term
   wrapped in `**...**`, followed by an index of the terms with the line numbers they occur on,
   and a caption per document.
"""
from __future__ import annotations

import re

import feather as ftr


def parse_terms(text: str) -> list[str]:
    """"sandbox, step ,container" -> ["sandbox", "step", "container"] (distinct, order kept)."""
    seen: list[str] = []
    for term in (t.strip() for t in text.split(",")):
        if term and term.lower() not in (s.lower() for s in seen):
            seen.append(term)
    return seen


def annotate_text(text: str, terms: list[str]) -> tuple[str, dict[str, list[int]]]:
    """Wraps whole-word, case-insensitive matches of each term in ** and returns where they are."""
    where: dict[str, list[int]] = {t: [] for t in terms}
    if not terms:
        return text, where
    # longest first so "read-only root" wins over "root"
    pattern = re.compile(r"(?i)\b(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\b")
    lookup = {t.lower(): t for t in terms}
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        def mark(match: re.Match[str]) -> str:
            term = lookup[match.group(1).lower()]
            if number not in where[term]:
                where[term].append(number)
            return f"**{match.group(1)}**"
        lines.append(pattern.sub(mark, line))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else ""), where


def report(name: str, annotated: str, where: dict[str, list[int]]) -> str:
    index = [f"- {term}: " + (f"{len(lines)} line(s): {', '.join(map(str, lines))}" if lines else "not found")
             for term, lines in where.items()]
    return f"{annotated.rstrip()}\n\n---\nTerms in {name}:\n" + ("\n".join(index) or "(no terms given)") + "\n"


def init():
    return ftr.File.Upload(types=[".txt", ".md"], min_files=1, max_files=5, title="Upload documents",
                           description="Plain-text or Markdown files (UTF-8).")


@ftr.step(title="Choose terms", description="Shows each document with a box for the terms to highlight.")
def read(documents: ftr.File.Upload) -> tuple[ftr.Document.WithTextIn, list[int]]:
    files = documents.get(format="file")
    texts = []
    for blob in files:
        try:
            texts.append(blob.text)
        except UnicodeDecodeError:
            raise ValueError(f"{blob.name} is not UTF-8 text") from None
    line_counts = [len(t.splitlines()) for t in texts]
    print(f"read {len(files)} document(s), {sum(line_counts)} lines")
    return (ftr.Document.WithTextIn(files, max_chars=200, title="Terms to highlight",
                                    description="Comma-separated, e.g. container, network"),
            line_counts)


@ftr.step(title="Annotate", description="Highlights the terms and lists the lines they occur on.",
          outputs=["annotated"])
def annotate(terms: ftr.Document.WithTextIn, line_counts: list[int]) -> ftr.Document.View:
    files = terms.documents(format="file")
    out, captions = [], []
    for blob, typed, count in zip(files, terms.get(), line_counts):
        wanted = parse_terms(typed)
        annotated, where = annotate_text(blob.text, wanted)
        found = sum(1 for lines in where.values() if lines)
        stem = blob.name.rsplit(".", 1)[0]
        out.append(ftr.Blob(f"{stem}.annotated.md", report(blob.name, annotated, where).encode("utf-8")))
        captions.append(f"{blob.name}: {found} of {len(wanted)} term(s) found in {count} lines")
    return ftr.Document.View(out, output_text=captions, title="Annotated documents")


ftr.build(
    name="doc-annotator",
    init=init,
    steps=[read, annotate],
    description="Highlights the terms you choose in your text documents and indexes their lines.",
    tasks=["text-annotation"],
    profile="low",
)

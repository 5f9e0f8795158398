"""The benchmark corpus (``../shared/corpus``): recordings listed in ``MANIFEST.tsv`` with
their transcripts."""

from __future__ import annotations

import csv
from pathlib import Path


def corpus_files(corpus: Path, lang: str, span: str = ":") -> list[tuple[Path, str]]:
    """The transcribed utterances of one language with their transcripts, in manifest order;
    ``span`` ("A:B", either end optional) keeps those from the A-th up to the B-th, so a
    benchmark can be run on recordings held out of a tuning loop."""
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    files = [(corpus / r["file"], r["transcript"].strip()) for r in rows
             if r["language"] == lang and r["transcript"].strip()]
    a, colon, b = span.partition(":")
    if not colon:
        raise ValueError(f"a span of recordings is A:B, not {span!r}")
    return files[int(a) if a else None : int(b) if b else None]

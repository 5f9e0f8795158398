"""The benchmark corpus (``../shared/corpus``): recordings listed in ``MANIFEST.tsv`` with
their transcripts."""

from __future__ import annotations

import csv
from pathlib import Path


def corpus_files(corpus: Path, lang: str) -> list[tuple[Path, str]]:
    """The transcribed utterances of one language with their transcripts, in manifest order."""
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(corpus / r["file"], r["transcript"].strip()) for r in rows
            if r["language"] == lang and r["transcript"].strip()]

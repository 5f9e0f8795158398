"""Joined utterances: a short opener, a pause, then what the caller called about.

Callers open with a short complete sentence and go on after half a second ("Hi. ... I wanted
to book", "שלום. ... רציתי לשאול"). An endpoint that answers the opener cuts them off. The
corpus has none of these, so this builds a set of its own, in English and Hebrew, spoken by
the embedded TTS: each opener, 400-700 ms of silence (exactly: the voice's own leading and
trailing silence trimmed), a question or request. ``python -m voiced.lab.joined DIR`` writes
``DIR/{en,he}/*.wav`` and ``DIR/MANIFEST.tsv`` in the corpus's format, so that
``voiced bench e2e --corpus DIR --lang he`` runs on it. Nothing here was tuned on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import trio

from ..audio import RATE, Pcm, silence_padded, write_wav
from ..config import Config, load

OPENERS = {
    "en": ["Hi.", "Hello.", "I'm sorry.", "Thank you.", "Good morning.", "Yes."],
    "he": ["שלום.", "סליחה.", "תודה.", "בוקר טוב.", "כן.", "היי."],
}
REQUESTS = {
    "en": ["I wanted to book an appointment for tomorrow.", "What time do you close today?",
           "Can I come on Tuesday at ten?", "Do you have a free slot next week?",
           "How much is a haircut?", "Could you ask Ruti to call me back?"],
    "he": ["רציתי לקבוע תור למחר.", "עד איזו שעה אתם פתוחים היום?", "אפשר לבוא ביום שלישי בעשר?",
           "יש לכם תור פנוי בשבוע הבא?", "כמה עולה תספורת?", "אפשר לבקש מרותי שתחזור אליי?"],
}
PAUSES_MS = (400, 500, 600, 700)
_VOICED = 200.0  # |sample| above which the TTS voice is speaking (-44 dBFS)


def _trim(pcm: Pcm) -> Pcm:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _VOICED)
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm


async def build(cfg: Config, out: Path) -> list[str]:
    from ..engines.espeak import EspeakTTS
    from ..engines.spoken import SpokenForm
    from .speech import synthesize

    tts = SpokenForm(EspeakTTS(cfg.tts.espeak))
    rows = ["file\tlanguage\tduration_s\ttranscript\tsource\tlicence"]
    for lang, openers in OPENERS.items():
        (out / lang).mkdir(parents=True, exist_ok=True)
        for i, (opener, request) in enumerate(zip(openers, REQUESTS[lang], strict=True)):
            pause = PAUSES_MS[i % len(PAUSES_MS)]
            _, first = await synthesize(tts, opener, lang)
            _, then = await synthesize(tts, request, lang)
            gap = np.zeros(RATE * pause // 1000, np.int16)
            pcm = silence_padded(np.concatenate([_trim(first), gap, _trim(then)]), 300)
            name = f"{lang}/joined_{i}_{pause}ms.wav"
            write_wav(out / name, [pcm])
            rows.append(f"{name}\t{lang}\t{pcm.size / RATE:.2f}\t{opener} {request}\t"
                        "voiced.lab.joined (embedded TTS)\tgenerated")
    (out / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return rows[1:]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voiced.lab.joined")
    parser.add_argument("out", type=Path)
    parser.add_argument("--config")
    args = parser.parse_args()
    rows = trio.run(build, load(args.config or "config.toml"), args.out)
    print(f"{len(rows)} joined utterances in {args.out}")


if __name__ == "__main__":
    main()

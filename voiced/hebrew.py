"""Hebrew text as a speech engine needs it: spoken words, then vowels, then phonemes.

Written Hebrew leaves out most vowels, so a synthesiser that reads it letter by letter (as
espeak-ng does) guesses them and a listener hears nonsense. The route here, all offline:

1. :func:`speakable` turns digits, prices, times, dates, percentages, phone numbers and
   abbreviations into the words a Hebrew speaker says (``heb-tts-normalizer``, which knows
   gender agreement and the 12-hour clock Israelis speak), for every engine, Google included.
2. Nakdimon (the MIT diacritisation model the ``piper-tts`` wheel ships) restores the
   vowel points of the whole sentence at once: context decides between readings.
3. Each pointed word becomes phonemes (piper's rule-based Hebrew G2P), with the stress put
   where Israeli Hebrew puts it (see :func:`_stress_at`), and goes to espeak-ng as phoneme
   input (``[[...]]``); Latin-script words stay text, so espeak-ng reads them in English.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any

log = logging.getLogger("voiced.hebrew")

_HEBREW_LETTER = re.compile(r"[\u05d0-\u05ea]")
_POINTS = re.compile(r"[\u0591-\u05c7]")
# A run of Hebrew words (letters, points, geresh, quote marks inside a word) or anything else.
_RUNS = re.compile(r"([\u0590-\u05ff'\"\u05f3\u05f4]+(?:[ \u05be-][\u0590-\u05ff'\"\u05f3\u05f4]+)*)")

_HOLAM_HASER = re.compile("([\u05d0-\u05d4\u05d6-\u05ea])([\u05b0-\u05c7]*\u05b9[\u05b0-\u05c7]*)")
SEGOL, PATAH, QAMATS, TSERE, HIRIQ, HOLAM = "\u05b6", "\u05b7", "\u05b8", "\u05b5", "\u05b4", "\u05b9"
_VOWEL_MARKS = "\u05b0\u05b1\u05b2\u05b3\u05b4\u05b5\u05b6\u05b7\u05b8\u05b9\u05ba\u05bb\u05c7"
_IPA_VOWELS = "aeiou"
# piper's IPA, mapped onto the mnemonics of espeak-ng's Hebrew phoneme table.
# ר as espeak-ng's uvular "R": with MBROLA's Hebrew voice, Whisper hears far more of the words
# than with the table's own Q" (round-trip CER 0.44 -> 0.38, docs/BENCHMARKS.md).
_MNEMONIC = {"ʃ": "S", "ʁ": "R", "χ": "X", "x": "X", "ʔ": "?", "ʒ": "Z", "ə": "e", "ɡ": "g",
             "ʕ": "?", "ħ": "X", "ˈ": "'"}


def speakable(text: str, language: str) -> str:
    """``text`` with numbers, prices, times, dates and abbreviations spelled out as words.

    Hebrew goes through ``heb-tts-normalizer``; other languages are left to the engine,
    which reads its own numbers well (espeak-ng and Google both do in English)."""
    if language != "he" or not any(c.isdigit() or c in "₪%$€\"׳״'" for c in text):
        return text
    normalize = _hebrew_normalizer()
    text = _DAY_MONTH.sub(lambda m: _day_month(normalize, m), _digits_by_digit(text))
    return _FIRST_OF_MONTH.sub(r"\1אחד ב", normalize(text))


# 24/12 with no year: the normalizer leaves it alone (24.12 it reads as a decimal). Only after
# a word that makes it a date ("ב-24/12", "עד 24/12"): "1/2 מחיר" is half the price.
_DAY_MONTH = re.compile(
    r"(?<![\u05d0-\u05ea])([בלמה]-?|עד |מ |תאריך |יום )(3[01]|[12]\d|0?[1-9])/(1[0-2]|0?[1-9])(?![\d/])")
# "ב-1.1.2025" comes out "בהראשון בינואר"; people say "באחד בינואר".
_FIRST_OF_MONTH = re.compile(r"(?<![\u05d0-\u05ea])([בלמ])-?הראשון ב(?=[\u05d0-\u05ea])")


def _day_month(normalize: Any, m: re.Match[str]) -> str:
    words = str(normalize(f"{m.group(2)}/{m.group(3)}/2000")).removesuffix(" אלפיים")
    return m.group(1).rstrip("-") + words


# A phone number: a leading 0 (Israeli numbers all start with one) and at least 8 digits,
# maybe split by dashes or spaces. Read one digit at a time, as people say them.
_PHONE = re.compile(
    r"(?:(?<=[\u05d0-\u05ea])-)?(?<![\d.,:])(?:\+972[- ]?|0)\d{1,2}(?:[- ]?\d){6,8}(?![\d.,:])")
_DIGIT_WORDS = ("אפס", "אחת", "שתיים", "שלוש", "ארבע", "חמש", "שש", "שבע", "שמונה", "תשע")


def _digits_by_digit(text: str) -> str:
    def spell(m: re.Match[str]) -> str:
        number = m.group(0).lstrip("-").replace("+972", "0")
        return " ".join(_DIGIT_WORDS[int(d)] for d in number if d.isdigit())
    return _PHONE.sub(spell, text)


@functools.cache
def _hebrew_normalizer() -> Any:
    from heb_tts_normalizer import Config, normalize

    cfg = Config()
    return functools.partial(normalize, cfg=cfg)


class HebrewPhonemes:
    """Hebrew sentences to espeak-ng input with phonemes; thread-safe, results cached.

    The Nakdimon model (21 MB, ONNX) loads on first use; :meth:`warm` does that at start-up
    so the first caller does not wait ~0.2 s for it."""

    def __init__(self, cache_size: int = 512) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        self._convert = functools.lru_cache(maxsize=cache_size)(self._espeak_input)

    def warm(self) -> None:
        self.espeak_input("שלום")

    def espeak_input(self, text: str) -> str:
        """What espeak-ng reads for ``text`` (already :func:`speakable`)."""
        return str(self._convert(text))

    def cache_hits(self) -> int:
        return self._convert.cache_info().hits

    def _diacritize(self, text: str) -> str:
        with self._lock:  # one ONNX session; runs are ~20-40 ms a sentence
            if self._model is None:
                from piper.hebrew import NakdimonDiacritizer

                self._model = NakdimonDiacritizer()
            return str(self._model(text))

    def _espeak_input(self, text: str) -> str:
        if not _HEBREW_LETTER.search(text):
            return text
        pointed = text if _POINTS.search(text) else self._diacritize(text)
        out: list[str] = []
        for i, run in enumerate(_RUNS.split(pointed)):
            if i % 2 == 0:  # between Hebrew runs: punctuation, Latin words, spaces
                out.append(run.replace("[", " ").replace("]", " "))
                continue
            words = [phonemes(w) for w in re.split(r"[ \u05be-]+", run)]
            out.append("[[" + " ".join(w for w in words if w) + "]]")
        return "".join(out)


# Frequent words whose pointing Nakdimon gets wrong or piper's rules misread.
_SAID_OTHERWISE = {
    "כל": "'kol", "וכל": "ve'Xol", "הכל": "ha'kol", "בכל": "be'Xol", "לכל": "le'Xol",
    "צהריים": "tsoho'Q\"ajim", "בצהריים": "batsoho'Q\"ajim", "הצהריים": "hatsoho'Q\"ajim",
}


def phonemes(word: str) -> str:
    """One pointed Hebrew word as espeak-ng phoneme mnemonics, stress marked."""
    from piper.hebrew.hebrew_ipa import hebrew_word_to_ipa

    # piper's G2P reads a holam only on a vav (holam male); Nakdimon writes לֹא, כֹּל, מֹשֶׁה
    # with it on the consonant, and those words would lose their vowel, or vanish.
    word = _HOLAM_HASER.sub(lambda m: m.group(1) + m.group(2).replace(HOLAM, "") + "\u05d5\u05b9", word)
    bare = _POINTS.sub("", word)
    if bare in _SAID_OTHERWISE:
        return _SAID_OTHERWISE[bare]
    ipa = hebrew_word_to_ipa(word).replace("ˈ", "")
    ipa = re.sub(r"[^a-zʃʁχʔʒəɡʕħ]", "", ipa)
    nuclei = [i for i, c in enumerate(ipa) if c in _IPA_VOWELS]
    if not nuclei:
        return "".join(_MNEMONIC.get(c, c) for c in ipa)
    stressed = nuclei[_stress_at(word, ipa, nuclei)]
    # The stress mark goes before the syllable: before the consonant (or affricate) that
    # opens it, or at the start of the word.
    at = stressed
    if at > 0 and ipa[at - 1] not in _IPA_VOWELS:
        at -= 2 if ipa[max(0, at - 2):at] in ("ts", "tʃ", "dʒ") else 1
    if nuclei[0] == stressed:
        at = 0
    marked = ipa[:at] + "ˈ" + ipa[at:]
    return "".join(_MNEMONIC.get(c, c) for c in marked)


def _last_marks(word: str, n: int) -> list[tuple[str, str]]:
    """The last ``n`` (letter, vowel mark) pairs of a pointed word, last first."""
    pairs: list[tuple[str, str]] = []
    letter = ""
    for c in word:
        if _HEBREW_LETTER.match(c):
            letter = c
        elif c in _VOWEL_MARKS and c != "\u05b0":
            pairs.append((letter, c))
    return pairs[::-1][:n]


def _stress_at(word: str, ipa: str, nuclei: list[int]) -> int:
    """Index into ``nuclei`` of the stressed vowel. Israeli Hebrew stresses the last
    syllable, except: segolates and the feminine -et/-at endings (בֹּקֶר, תִּסְפֹּרֶת, שֶׁבַע),
    a furtive patah (לוֹקֵחַ), the dual -ayim (שְׁעָתַיִים), and past-tense -ti (אָמַרְתִּי)."""
    last = len(nuclei) - 1
    if last == 0:
        return 0
    bare = _POINTS.sub("", word)
    marks = _last_marks(word, 2)
    final_vowel = marks[0][1] if marks else ""
    before = marks[1][1] if len(marks) > 1 else ""
    if ipa.endswith("ajim") and last >= 1:
        return last - 1
    if final_vowel == SEGOL and not bare.endswith(("ה", "י")):
        return last - 1
    guttural_end = bare.endswith(("ע", "ח"))
    if final_vowel == PATAH and guttural_end and before in (SEGOL, TSERE, PATAH, HOLAM, HIRIQ, ""):
        return last - 1
    if bare.endswith("תי") and len(bare) > 3 and before in (PATAH, QAMATS, HIRIQ, TSERE):
        return last - 1
    return last

"""Text for matching and for speaking: normalisation (Hebrew-aware) and sentence cutting.

Hebrew needs more than lower-casing before two spellings of a word compare equal: niqqud and
cantillation marks come and go, final letter forms differ, and one-letter prefixes (ו ה ב ל
מ ש כ: "and", "the", "in", "to", "from", "that", "like") glue onto the word they modify.
"""

from __future__ import annotations

import re
import unicodedata

_HEBREW_MARKS = re.compile("[\u0591-\u05c7]")  # cantillation, niqqud, meteg, etc.
_FINALS = str.maketrans("ךםןףץ", "כמנפצ")
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")
HEBREW_PREFIXES = "והבלמשכ"
_HEBREW_LETTER = re.compile("[\u05d0-\u05ea]")


def normalize(text: str) -> str:
    """Lower case, no marks, no final forms, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("\u05be", " ")  # maqaf, the Hebrew hyphen, joins two words
    text = _HEBREW_MARKS.sub("", text)
    text = text.replace("\u05f3", "").replace("\u05f4", "").replace("'", "").replace('"', "")
    text = text.translate(_FINALS)
    text = _PUNCT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def is_hebrew(text: str) -> bool:
    return bool(_HEBREW_LETTER.search(text))


def word_forms(word: str) -> set[str]:
    """A normalised word and what it may be with up to two Hebrew prefixes taken off
    ("ובשעות" -> "בשעות", "שעות"), never leaving fewer than two letters."""
    forms = {word}
    if _HEBREW_LETTER.match(word):
        stem = word
        for _ in range(2):
            if len(stem) > 3 and stem[0] in HEBREW_PREFIXES:
                stem = stem[1:]
                forms.add(stem)
            else:
                break
    return forms


def skeleton(word: str) -> str:
    """A normalised Hebrew word without its vowel letters (ו and י after the first letter):
    full and defective spellings of one word ("תיספורת"/"תספורת", "כתובת"/"כתבת") share it."""
    if not _HEBREW_LETTER.match(word):
        return word
    return word[0] + word[1:].replace("ו", "").replace("י", "")


# A sentence ends at . ! ? … (and Hebrew sof pasuq ׃) followed by space, or at a newline.
# "3.5" has no space after its dot; a dot after a single letter ("e.g. ", "J. Smith") is an
# abbreviation, not an end.
_SENTENCE_END = re.compile(r"(?<!\b[^\W\d_])[.!?…׃]+[\"')\]]*\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:–—]\s+")


class SentenceSplitter:
    """Cuts a token stream into speakable pieces as early as is natural.

    The first piece of a reply may end at a clause (a comma) once it is ``first_clause_chars``
    long, because the caller waits for it; later pieces wait for whole sentences, which sound
    better and still arrive before the caller has heard the one before.
    """

    def __init__(self, first_clause_chars: int = 40, max_chars: int = 250) -> None:
        self._buf = ""
        self._first = True
        self._first_clause_chars = first_clause_chars
        self._max_chars = max_chars

    def push(self, fragment: str) -> list[str]:
        self._buf += fragment
        out: list[str] = []
        while True:
            piece = self._cut()
            if piece is None:
                return out
            out.append(piece)

    def _cut(self) -> str | None:
        end = None
        m = _SENTENCE_END.search(self._buf)
        if m:
            end = m.end()
        elif self._first and len(self._buf) >= self._first_clause_chars:
            for c in _CLAUSE_END.finditer(self._buf):
                if c.start() >= self._first_clause_chars // 2:
                    end = c.end()
                    break
        if end is None and len(self._buf) >= self._max_chars:
            space = self._buf.rfind(" ", 0, self._max_chars)
            end = space + 1 if space > 0 else self._max_chars
        if end is None:
            return None
        piece, self._buf = self._buf[:end].strip(), self._buf[end:]
        if not piece:
            return self._cut()
        self._first = False
        return piece

    def flush(self) -> str | None:
        piece, self._buf = self._buf.strip(), ""
        return piece or None

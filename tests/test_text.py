from __future__ import annotations

import pytest

from voiced.text import SentenceSplitter, normalize, word_forms


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Hello, WORLD!", "hello world"),
        ("שָׁלוֹם", "שלומ"),
        ("מה השעות?", "מה השעות"),
        ("צה\"ל ו־ת\"א", "צהל ו תא"),
        ("  what's   up  ", "whats up"),
    ],
)
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_word_forms_strip_hebrew_prefixes_but_keep_short_words() -> None:
    assert word_forms("ובשעות") == {"ובשעות", "בשעות", "שעות"}
    assert word_forms("מה") == {"מה"}
    assert word_forms("hours") == {"hours"}


def test_splitter_cuts_sentences_as_tokens_arrive() -> None:
    s = SentenceSplitter()
    assert s.push("We are open") == []
    assert s.push(" from 9.30 to six. Come") == ["We are open from 9.30 to six."]
    assert s.push(" by! ") == ["Come by!"]
    assert s.push("Bye") == []
    assert s.flush() == "Bye"


def test_splitter_handles_hebrew_punctuation_and_abbreviations() -> None:
    s = SentenceSplitter()
    out = s.push("שלום! מה שלומך? אנחנו פתוחים עד 18:00. ")
    assert out == ["שלום!", "מה שלומך?", "אנחנו פתוחים עד 18:00."]
    assert s.push("Ask for J. Smith please. ") == ["Ask for J. Smith please."]


def test_splitter_lets_the_first_piece_end_at_a_clause() -> None:
    s = SentenceSplitter(first_clause_chars=20)
    out = s.push("Thanks for calling the salon, we are open today, until six")
    assert out == ["Thanks for calling the salon,"]
    assert s.push(", and tomorrow") == []  # later pieces wait for a sentence end

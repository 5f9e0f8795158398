"""Hebrew as it is spoken: the normaliser's readings are how an Israeli says them on the
phone (12-hour clock, gender agreement with the counted noun, phone numbers digit by digit)."""

from __future__ import annotations

import pytest

from voiced.hebrew import HebrewPhonemes, phonemes, speakable

SPOKEN = [
    # gender agreement with the counted noun
    ("יש לי 3 ילדים", "יש לי שלושה ילדים"),
    ("יש לי 3 בנות", "יש לי שלוש בנות"),
    ("קניתי 2 ספרים", "קניתי שני ספרים"),
    ("קניתי 2 מחברות", "קניתי שתי מחברות"),
    ("יש 21 עובדים", "יש עשרים ואחד עובדים"),
    ("יש 21 עובדות", "יש עשרים ואחת עובדות"),
    ("1 ילד", "ילד אחד"),
    ("1 ילדה", "ילדה אחת"),
    ("2 ילדים", "שני ילדים"),
    ("2 ילדות", "שתי ילדות"),
    ("12 ילדות", "שתים עשרה ילדות"),
    ("11 שקלים", "אחד עשר שקלים"),
    ("10 ימים", "עשרה ימים"),
    ("3 תורים", "שלושה תורים"),
    ("הייתי שם 3 פעמים", "הייתי שם שלוש פעמים"),
    ("4 דקות", "ארבע דקות"),
    ("45 דקות", "ארבעים וחמש דקות"),
    ("2 שעות", "שתי שעות"),
    ("24 שעות", "עשרים וארבע שעות"),
    ("100 אנשים", "מאה אנשים"),
    ("1000 איש", "אלף איש"),
    ("יש 0 הודעות", "יש אפס הודעות"),
    ("3-4 ימים", "שלושה עד ארבעה ימים"),
    # money
    ("זה עולה 80 ₪", "זה עולה שמונים שקלים"),
    ("זה עולה ₪80", "זה עולה שמונים שקלים"),
    ("עלה ₪ 30", "עלה שלושים שקלים"),
    ("המחיר 25.50 ₪", "המחיר עשרים וחמישה שקלים וחמישים אגורות"),
    ("תספורת ב-120 שקלים", "תספורת במאה ועשרים שקלים"),
    ("שילמתי 1,250 ₪", "שילמתי אלף מאתיים וחמישים שקלים"),
    ("2000 שקל", "אלפיים שקלים"),
    ("1,000,000 דולר", "מיליון דולרים"),
    ("פן בלבד עולה 70 ₪.", "פן בלבד עולה שבעים שקלים."),
    # percentages
    ("הנחה של 15%", "הנחה של חמישה עשר אחוזים"),
    ("הנחה של 50%", "הנחה של חמישים אחוזים"),
    ("יש הנחה של 10% לסטודנטים.", "יש הנחה של עשרה אחוזים לסטודנטים."),
    # times: the 12-hour clock with the part of the day
    ("התור ב-14:30", "התור בשתיים וחצי אחר הצהריים"),
    ("התור ב-9:00", "התור בתשע בבוקר"),
    ("נפגש ב-10:15", "נפגש בעשר ורבע בבוקר"),
    ("נפגש ב-8:45", "נפגש ברבע לתשע בבוקר"),
    ("הסניף פתוח עד 20:00", "הסניף פתוח עד שמונה בערב"),
    ("נתראה ב-12:00", "נתראה בשתים עשרה בצהריים"),
    ("התור ב-7:05", "התור בשבע וחמש בבוקר"),
    ("בשעה 16:00", "בשעה ארבע אחר הצהריים"),
    # dates
    ("פגישה ב-3.5.2025", "פגישה בשלושה במאי אלפיים עשרים וחמש"),
    ("נולדתי ב-1.1.1990", "נולדתי באחד בינואר אלף תשע מאות ותשעים"),
    ("המבצע עד ה-30 בחודש", "המבצע עד השלושים בחודש"),
    ("ב-24/12", "בעשרים וארבעה בדצמבר"),
    ("ה-5/6 בערב", "החמישה ביוני בערב"),
    ("שנת 2024", "שנת אלפיים עשרים וארבע"),
    ("ב-2024", "באלפיים עשרים וארבע"),
    # ordinals after ה-
    ("הגענו במקום ה-1", "הגענו במקום הראשון"),
    ("במקום ה-2", "במקום השני"),
    # phone numbers, one digit at a time, prefixes kept
    ("הטלפון 054-1234567", "הטלפון אפס חמש ארבע אחת שתיים שלוש ארבע חמש שש שבע"),
    ("התקשרו ל-03-5551234", "התקשרו לאפס שלוש חמש חמש חמש אחת שתיים שלוש ארבע"),
    ("המספר הוא 0541234567", "המספר הוא אפס חמש ארבע אחת שתיים שלוש ארבע חמש שש שבע"),
    ("חייגו +972-54-1234567", "חייגו אפס חמש ארבע אחת שתיים שלוש ארבע חמש שש שבע"),
    # numbers that name things: house, floor, room, bus line
    ("רח' הרצל 45", "רחוב הרצל ארבעים וחמש"),
    ("קומה 2", "קומה שתיים"),
    ("חדר 12", "חדר שתים עשרה"),
    ("קו 5", "קו חמש"),
    ("בית ספר מס' 5", "בית ספר מספר חמש"),
    # abbreviations and units
    ('ד"ר כהן יקבל אותך', "דוקטור כהן יקבל אותך"),
    ("גב' לוי מחכה", "גברת לוי מחכה"),
    ('5 ק"ג', "חמישה קילוגרמים"),
    ("בין 9 ל-5", "בין תשע לחמש"),
    # mixed Hebrew and English stays as written: the engine reads the English in English
    ("Gmail שלי", "Gmail שלי"),
    ("שלחו לי email", "שלחו לי email"),
    ("אני ב-WhatsApp", "אני ב-WhatsApp"),
    # nothing to do
    ("חצי שעה", "חצי שעה"),
    ("מר כהן", "מר כהן"),
    ("שילמתי 1/2 מחיר", "שילמתי 1/2 מחיר"),  # a fraction, not the first of February
]


@pytest.mark.parametrize(("written", "said"), SPOKEN)
def test_hebrew_is_read_as_spoken(written: str, said: str) -> None:
    assert speakable(written, "he") == said


def test_there_are_enough_cases() -> None:
    assert len(SPOKEN) >= 60


def test_english_is_left_to_the_engine() -> None:
    assert speakable("It costs $80 at 14:30", "en") == "It costs $80 at 14:30"


@pytest.mark.parametrize(
    ("pointed", "expected"),
    [
        ("שָׁלוֹם", "Sa'lom"),  # final stress, the default
        ("בֹּקֶר", "'bokeR"),  # segolate: penultimate
        ("תִּסְפֹּרֶת", "tis'poRet"),  # feminine -et
        ("שֶׁבַע", "'Seva"),  # segolate with patah before ע
        ("לוֹקֵחַ", "lo'keXa"),  # furtive patah
        ("שְׁעָתַיִים", "Sea'tajim"),  # dual -ayim
        ("אָמַרְתִּי", "a'maRti"),  # past tense -ti
        ("תּוֹר", "'toR"),  # one syllable
    ],
)
def test_phonemes_put_the_stress_where_israelis_do(pointed: str, expected: str) -> None:
    assert phonemes(pointed) == expected


def test_espeak_input_keeps_english_as_text_and_caches() -> None:
    g2p = HebrewPhonemes()
    out = g2p.espeak_input("שלום, זה Gmail שלי.")
    assert out.startswith("[[") and "Gmail" in out and "[[Gmail" not in out
    assert g2p.espeak_input("hello there") == "hello there"
    hits = g2p.cache_hits()
    assert g2p.espeak_input("שלום, זה Gmail שלי.") == out
    assert g2p.cache_hits() == hits + 1  # the second time from the cache

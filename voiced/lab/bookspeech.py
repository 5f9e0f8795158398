"""``voiced bench booking-speech``: callers asking for an appointment, spoken by the embedded
voice, sent down the phone line, heard by the embedded STT and read by the receptionist's
rules. It counts what a booking needs, not characters: the service, the day, the time and the
yes or no each right.

The sentences are made from templates with the business's own services, open days and hours
(a seeded draw, the same every run). Two template sets: ``seen`` are the ones looked at while
the business vocabulary (``stt.whisper.vocabulary``) was designed, ``held`` were written
afterwards and run only on the finished design; both are reported. A synthetic voice is a harsher
caller than a person for Whisper base (its Hebrew CER on the corpus's real speakers is about
half the embedded voice's), so these are a floor for the embedded voice, not a forecast for
people.
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime
from typing import Any

from ..audio import RATE
from ..book.schedule import Schedule
from ..book.when import parse_when
from ..build import vocabulary
from ..business import DAY_NAMES, HOUR_WORDS, open_hours, service_name
from ..config import Config
from ..text import normalize
from .speech import ErrorRate, phone_line, synthesize
from .stats import machine, percentile

TEMPLATES = {
    "he": {
        "seen": ["אני רוצה לקבוע {s} ביום {d} בשעה {h}", "אפשר תור ל{s} ביום {d} ב{h}?",
                 "מחר ב{h} יש מקום ל{s}?", "רציתי לקבוע תור ל{s} ביום {d} ב{h} וחצי",
                 "יש לכם מקום ל{s} ביום {d} בשעה {h}?", "אני צריכה {s}, אולי ביום {d} ב{h}",
                 "היי, יש מקום ל{s} ביום {d} ב{h}?", "אני רוצה לבוא ל{s} ביום {d} בשעה {h} וחצי",
                 "תקבעי לי בבקשה {s} ביום {d} ב{h}", "אפשר מחר בשעה {h}, ל{s}?"],
        "held": ["שלום, אפשר לקבוע ל{s} ביום {d} ב{h}?", "בוקר טוב, אני מחפש תור ל{s} מחר ב{h}",
                 "יש אצלכם {s} ביום {d} בשעה {h} וחצי?", "אני אשמח לבוא ביום {d} ב{h}, ל{s}"],
    },
    "en": {
        "seen": ["I'd like to book a {s} on {d} at {h}", "Can I come in for a {s} tomorrow at {h}?",
                 "Do you have anything for a {s} on {d} at {h} thirty?"],
        "held": ["Hi, is there room for a {s} on {d} at {h}?",
                 "Could you book me a {s} on {d} at {h} thirty please?",
                 "I need a {s}, maybe {d} at {h}"],
    },
}
ANSWERS = {
    "he": {"seen": ["כן", "כן, בסדר", "לא", "כן בבקשה", "כן, תודה", "לא, תודה", "נכון",
                    "כן, מתאים לי", "כן כן", "לא, זה לא מתאים"],
           "held": ["כן, בטח", "כן, זה מצוין", "לא, אולי ביום אחר"]},
    "en": {"seen": ["Yes", "Yes, please", "No"],
           "held": ["Yes, that's fine", "Yeah, sure", "No, that doesn't work"]},
}
YES_NO = {"כן", "לא", "נכון", "yes", "yeah", "no"}


def sentences(cfg: Config, lang: str, which: str, n: int, seed: int) -> list[str]:
    """``n`` booking requests from the ``which`` templates, then the yes and no answers."""
    rnd = random.Random(f"{seed}-{lang}-{which}")
    hours = open_hours(cfg)
    days = [DAY_NAMES[lang][d] for d, spans in cfg.book.hours.items() if spans.strip()]
    services = [service_name(s, lang) for s in cfg.book.services]
    temps = TEMPLATES[lang][which]
    out = [temps[i % len(temps)].format(s=rnd.choice(services), d=rnd.choice(days),
                                        h=HOUR_WORDS[lang][rnd.choice(hours) % 12])
           for i in range(n)]
    return out + ANSWERS[lang][which]


def slots(text: str, lang: str, schedule: Schedule, now: datetime) -> tuple[Any, ...]:
    """What the receptionist reads from ``text``: service, day, time, and a leading yes/no."""
    when = parse_when(text, lang, now)
    service = schedule.find_service(text)
    words = normalize(text).split()
    first = words[0] if words and words[0] in YES_NO else None
    return service.name if service else None, when.day, when.at, first


async def booking_speech(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    from ..engines import whisper
    from ..engines.espeak import EspeakTTS
    from ..engines.spoken import SpokenForm

    lang = args.lang
    schedule = Schedule(cfg.book)
    now = datetime(2026, 12, 2, 10, 0, tzinfo=schedule.zone)  # a Wednesday morning
    words = vocabulary(cfg)
    print(f"# voiced bench booking-speech: {lang} booking requests by the embedded voice at "
          f"8 kHz mu-law, Whisper beam {cfg.stt.whisper.describe_beam(lang)}, business vocabulary "
          f"{'on' if words.get(lang) else 'off'}; {machine()}")
    tts = SpokenForm(EspeakTTS(cfg.tts.espeak))
    stt = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper, words)
    summary: dict[str, Any] = {"bench": "booking-speech", "lang": lang, "errors": 0,
                               "vocabulary": bool(words.get(lang)), "machine": machine()}
    decodes: list[float] = []
    for which in ("seen", "held"):
        score, right = ErrorRate(), 0
        lines = sentences(cfg, lang, which, args.calls * 2, seed=1)
        for line in lines:
            _, audio = await synthesize(tts, line, lang)
            heard = await stt.transcribe(phone_line(audio), [lang])
            decodes.append(heard.compute_s)
            ok = slots(heard.text, lang, schedule, now) == slots(line, lang, schedule, now)
            right += ok
            score.add(line, heard.text)
            seconds = audio.size / RATE
            print(f"{'ok ' if ok else 'BAD'}  {seconds:4.1f}s  {line}\n     heard: {heard.text}")
        summary[which] = {"lines": len(lines), "slots_right": right, "cer": round(score.cer, 3)}
        print(f"{which}: slots right in {right} of {len(lines)} lines, CER {score.cer:.3f}")
    summary["median_decode_s"] = round(percentile(decodes, 50), 3)
    return summary

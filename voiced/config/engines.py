"""The sections about the engines: speech-to-text, text-to-speech and the brain (with the
scripted receptionist's lines)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .fields import in_range, one_of


@dataclass(frozen=True)
class WhisperConfig:
    # Empty: assemble the packaged Whisper base weights into the cache directory.
    model_dir: str = ""
    compute_type: str = field(default="int8", metadata=one_of("int8", "int8_float32", "float32"))
    # Threads of one decode. One is faster than two on a 2-core VM, with the same words: a
    # decode is some 20-70 small steps, and two threads wait on each other at every step
    # (Hebrew beam 5: 1.02 -> 0.66 s at the median; English greedy 0.37 -> 0.31 s;
    # docs/BENCHMARKS.md, "Whisper on one thread a decode").
    cpu_threads: int = field(default=1, metadata=in_range(1, 64))
    # Decodes at once across the process, each on cpu_threads cores: a call's next pass need
    # not wait for one the caller talked over (a decode cannot stop between its steps), and
    # two calls decode side by side. 0: the cores / cpu_threads (voiced.sizing).
    concurrency: int = field(default=0, metadata=in_range(0, 64))
    beam_size: int = field(default=1, metadata=in_range(1, 10))
    # Hebrew gains more from a wider beam than English does (docs/BENCHMARKS.md).
    beam_size_he: int = field(default=1, metadata=in_range(1, 10))
    # From this many seconds of audio, a turn's beam is at most beam_size_long. A beam's cost
    # grows with the words decoded; what it buys is the request whose one word (a day, an
    # hour) carries the meaning. Hebrew corpus, beam 3 against 5: as many character errors,
    # 0.1-0.2 s less decode on the long sentences; the embedded voice's booking requests
    # (0.4-5.5 s) lost 3 of 53 slots on beam 3, so they keep beam 5 (docs/BENCHMARKS.md,
    # "Patient after a cut-off, and a narrower beam for long turns").
    beam_long_s: float = field(default=6.0, metadata=in_range(0.0, 60.0))
    beam_size_long: int = field(default=3, metadata=in_range(1, 10))
    # Repetition guards against Whisper's loops on noise and short context.
    no_repeat_ngram_size: int = field(default=6, metadata=in_range(0, 20))
    # Above 1, tokens already produced are less likely again: against "טינטינטינ" loops.
    repetition_penalty: float = field(default=1.0, metadata=in_range(1.0, 3.0))
    max_new_tokens: int = field(default=160, metadata=in_range(8, 440))
    # Whisper was trained on 30 s windows; encoding only this much (audio plus padding, at
    # least the turn and 2 s) is cheaper on short turns. 6 s against 10 s: the same CER on the
    # corpus (he 0.093/0.095, en 0.048) and the round trip (0.224), decode 70-100 ms faster
    # (docs/BENCHMARKS.md).
    min_context_s: float = field(default=6.0, metadata=in_range(4.0, 30.0))
    # Above this no-speech probability a turn is treated as silence.
    no_speech_threshold: float = field(default=0.6, metadata=in_range(0.0, 1.0))
    # The business's words (its name, services, open days and hours, from [business] and
    # [book]) given to the decoder as the text before each turn, in the turn's language:
    # callers' bookings are heard far better, other speech a little worse (docs/BENCHMARKS.md,
    # "Business vocabulary").
    vocabulary: bool = True
    # Text given to the decoder as previous text instead, whatever the language.
    initial_prompt: str = ""
    # With several call.languages, another language than the line's is chosen only when
    # Whisper finds it this many times likelier: a short or unclear turn is heard in the
    # line's language instead of being misheard as English (docs/BENCHMARKS.md).
    language_switch_odds: float = field(default=3.0, metadata=in_range(1.0, 1000.0))
    # A turn shorter than this (seconds of audio) is heard in the call's current language:
    # a Hebrew "כן" is too short to tell from an English "Okay" (docs/BENCHMARKS.md).
    language_switch_min_s: float = field(default=1.0, metadata=in_range(0.0, 30.0))

    def beam_for(self, language: str, seconds: float = 0.0) -> int:
        """The beam for a turn of ``seconds`` of audio in ``language``."""
        beam = self.beam_size_he if language == "he" else self.beam_size
        return min(beam, self.beam_size_long) if seconds >= self.beam_long_s else beam

    def describe_beam(self, language: str) -> str:
        """For benchmark headers: "5", or "5, 3 from 6.0 s"."""
        short, long = self.beam_for(language), self.beam_for(language, self.beam_long_s)
        return f"{short}" if short == long else f"{short}, {long} from {self.beam_long_s} s"


@dataclass(frozen=True)
class GoogleConfig:
    # host:port of the API; empty means Google's own endpoint with Application Default
    # Credentials ($GOOGLE_APPLICATION_CREDENTIALS or a systemd credential file).
    endpoint: str = ""
    # Plaintext gRPC without credentials: only for local servers (tests, benchmarks).
    insecure: bool = False


@dataclass(frozen=True)
class GoogleSttConfig(GoogleConfig):
    # Google's model for 8 kHz phone audio.
    model: str = "telephony"
    # Audio is sent in requests of this many milliseconds ...
    batch_ms: int = field(default=120, metadata=in_range(20, 1000))
    # ... and of this many while nothing of the caller's is awaited (from final_timeout_ms
    # after their turn until they speak again): the gRPC client's threads 7.2 -> 5.9 % of a
    # core at 20 calls, replies no later (docs/BENCHMARKS.md).
    quiet_batch_ms: int = field(default=480, metadata=in_range(20, 1000))
    # Interim results are passed on at most this often.
    partial_debounce_ms: int = field(default=160, metadata=in_range(0, 5000))
    # Google ends a stream at ~305 s: we restart it before, replaying unacknowledged audio.
    streaming_limit_s: float = field(default=240.0, metadata=in_range(10.0, 300.0))
    # Streams open at once in this process (each holds a worker thread).
    max_streams: int = field(default=250, metadata=in_range(1, 10000))
    # No words this long after the endpoint: the stream is failing; the caller hears the
    # fallback line instead of silence.
    final_timeout_ms: int = field(default=1500, metadata=in_range(100, 30000))


@dataclass(frozen=True)
class WhisperApiConfig:
    # Any OpenAI-compatible /v1/audio/transcriptions (OpenAI, Groq, faster-whisper servers).
    base_url: str = "https://api.openai.com/v1"
    model: str = "whisper-1"
    api_key_env: str = "VOICED_STT_API_KEY"


@dataclass(frozen=True)
class SttConfig:
    engine: str = field(default="whisper", metadata=one_of("whisper", "google", "whisper-api"))
    # Longest turn sent to STT; longer speech keeps its last part.
    max_turn_s: float = field(default=30.0, metadata=in_range(1.0, 120.0))
    timeout_s: float = field(default=10.0, metadata=in_range(0.1, 120.0))
    # Languages in which a batch recogniser's speculative pass that the caller talked over
    # finishes, and the next pass covers only the audio after it, with its words as context:
    # at the last pause only the tail is left to decode (docs/BENCHMARKS.md). Whisper base
    # hears short Hebrew parts badly (character errors doubled on the audio scenarios' lines),
    # so Hebrew turns are transcribed whole.
    transcribe_in_parts: tuple[str, ...] = ("en",)
    whisper: WhisperConfig = WhisperConfig()
    google: GoogleSttConfig = GoogleSttConfig()
    whisper_api: WhisperApiConfig = WhisperApiConfig()


@dataclass(frozen=True)
class EspeakConfig:
    binary: str = "espeak-ng"
    # "auto": the MBROLA Hebrew diphone voice (Debian's mbrola-hb2, non-free: free to use, not
    # to sell) when installed, far more intelligible than espeak-ng's own "he" formant voice.
    voice_he: str = "auto"
    voice_en: str = "en-us"
    # Words per minute and pitch (0-99); Hebrew slower and lower, which a listener (and
    # Whisper) follows better: docs/BENCHMARKS.md has the measurements.
    rate: int = field(default=170, metadata=in_range(80, 450))
    rate_he: int = field(default=130, metadata=in_range(80, 450))
    # Hebrew through vowel restoration (Nakdimon) and phonemes, not espeak-ng's letter rules.
    hebrew_phonemes: bool = True
    pitch: int = field(default=50, metadata=in_range(0, 99))
    pitch_he: int = field(default=35, metadata=in_range(0, 99))
    # Pause between Hebrew words, in 10 ms units: diphone Hebrew run together is the hardest
    # part to follow (round-trip CER 0.31 -> 0.25 with 80 ms, docs/BENCHMARKS.md).
    word_gap_he: int = field(default=8, metadata=in_range(0, 50))


@dataclass(frozen=True)
class GoogleTtsConfig(GoogleConfig):
    voice_he: str = "he-IL-Wavenet-A"
    voice_en: str = "en-US-Neural2-F"
    speaking_rate: float = field(default=1.05, metadata=in_range(0.25, 4.0))
    # Streaming synthesis: "auto" uses it for the voices that support it (Chirp 3: HD).
    streaming: str = field(default="auto", metadata=one_of("auto", "on", "off"))


@dataclass(frozen=True)
class TtsConfig:
    engine: str = field(default="espeak", metadata=one_of("espeak", "google"))
    timeout_s: float = field(default=5.0, metadata=in_range(0.1, 60.0))
    espeak: EspeakConfig = EspeakConfig()
    google: GoogleTtsConfig = GoogleTtsConfig()


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.2"
    # Name of the environment variable holding the key; the key itself is never in the file.
    api_key_env: str = "VOICED_LLM_API_KEY"
    system_prompt: str = (
        "You are the receptionist of a small business on the phone. Answer in the caller's "
        "language, in one or two short spoken sentences, without lists or markup."
    )
    temperature: float = field(default=0.3, metadata=in_range(0.0, 2.0))
    max_tokens: int = field(default=150, metadata=in_range(1, 4096))
    first_token_timeout_ms: int = field(default=1500, metadata=in_range(50, 60000))
    total_timeout_ms: int = field(default=8000, metadata=in_range(100, 120000))
    # Turns of history sent with each request.
    history_turns: int = field(default=10, metadata=in_range(0, 200))
    # Tools: rounds of calls per reply (then it must answer in words), calls per round.
    tool_rounds: int = field(default=3, metadata=in_range(0, 10))
    max_tool_calls: int = field(default=4, metadata=in_range(1, 32))
    tools_prompt: str = (
        "Use the tools to check free times, book, cancel, take messages, transfer or end the "
        "call. Before booking or cancelling, say exactly what you will do and wait for the "
        "caller's yes. Say times as a person would."
    )


@dataclass(frozen=True)
class Intent:
    name: str
    # Per language: words or phrases; one hit is enough, more hits win over fewer.
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    answer: Mapping[str, str] = field(default_factory=dict)
    # Say the answer, then end the call.
    end_call: bool = False
    # Say the answer, then transfer the call to this number (E.164).
    transfer_to: str = ""
    # What to ask before ending or transferring on a request that was not clear enough
    # (default: script.confirm_end or script.confirm_transfer). Give each its own when two
    # intents transfer to different numbers.
    confirm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScriptConfig:
    greeting: Mapping[str, str] = field(
        default_factory=lambda: {"he": "שלום, הגעתם לעסק. במה אפשר לעזור?",
                                 "en": "Hello, you have reached the business. How can I help?"}
    )
    fallback: Mapping[str, str] = field(
        default_factory=lambda: {"he": "סליחה, לא הבנתי. אפשר לחזור על זה?",
                                 "en": "Sorry, I did not catch that. Could you say it again?"}
    )
    goodbye: Mapping[str, str] = field(
        default_factory=lambda: {"he": "תודה שהתקשרתם, להתראות.",
                                 "en": "Thank you for calling, goodbye."}
    )
    filler: Mapping[str, str] = field(
        default_factory=lambda: {"he": "רגע, בודק.", "en": "One moment."}
    )
    reprompt: Mapping[str, str] = field(
        default_factory=lambda: {"he": "אתם עדיין על הקו?", "en": "Are you still there?"}
    )
    # Said (with Twilio's <Say>) to a caller when max_calls are already in progress.
    busy: Mapping[str, str] = field(
        default_factory=lambda: {"he": "כל הקווים תפוסים כרגע. נסו שוב בעוד כמה דקות.",
                                 "en": "All our lines are busy. Please call again in a few minutes."}
    )
    transfer: Mapping[str, str] = field(
        default_factory=lambda: {"he": "מעביר אתכם לנציג, רגע.",
                                 "en": "Transferring you to a person, one moment."}
    )
    # Said when an engine fails mid-reply, and before hanging up after repeated failures.
    trouble: Mapping[str, str] = field(
        default_factory=lambda: {"he": "סליחה, יש לנו תקלה טכנית.",
                                 "en": "Sorry, we are having a technical problem."}
    )
    # Similarity (0-1) at which a misspelt or misheard word still counts as a keyword.
    fuzzy_ratio: float = field(default=0.84, metadata=in_range(0.5, 1.0))
    # An intent that ends or transfers the call acts at once only on a confident request:
    # a key press, or a keyword heard exactly in a turn of at most this many words ("bye",
    # "אפשר לדבר עם נציג"). Anything less is asked back first (confirm_end, confirm_transfer)
    # and acted on when the caller says yes.
    confident_words: int = field(default=4, metadata=in_range(1, 50))
    confirm_end: Mapping[str, str] = field(
        default_factory=lambda: {"he": "לסיים את השיחה?", "en": "Shall we end the call here?"}
    )
    confirm_transfer: Mapping[str, str] = field(
        default_factory=lambda: {"he": "להעביר אתכם לנציג?",
                                 "en": "Shall I put you through to a person?"}
    )
    yes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"he": ("כן", "בטח", "בבקשה", "נכון", "אשמח", "יאללה", "אוקיי"),
                                 "en": ("yes", "yeah", "yep", "sure", "please", "okay", "ok",
                                        "go ahead", "do it")}
    )
    intents: tuple[Intent, ...] = ()


@dataclass(frozen=True)
class BrainConfig:
    engine: str = field(default="scripted", metadata=one_of("scripted", "openai"))
    openai: OpenAIConfig = OpenAIConfig()
    script: ScriptConfig = ScriptConfig()

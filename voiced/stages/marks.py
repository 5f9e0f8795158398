"""What the caller heard: sentences sent, and which of their marks Twilio echoed back."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReplyRecord:
    """One agent reply. Its sentences are sent in order, each followed by mark ``n.i``."""

    n: int
    sentences: list[str] = field(default_factory=list)
    heard: int = 0  # sentences whose mark came back
    interrupted: bool = False
    end_call: bool = False

    def sent(self, text: str) -> str:
        self.sentences.append(text)
        return f"{self.n}.{len(self.sentences)}"

    def end_mark(self) -> str:
        self.end_call = True
        return f"{self.n}.end"

    @property
    def pending(self) -> bool:
        """Audio sent that Twilio has not finished playing."""
        return self.heard < len(self.sentences)

    def text(self) -> str:
        """What the caller heard: everything, unless the reply was cut off."""
        said = self.sentences[: self.heard] if self.interrupted else self.sentences
        return " ".join(said)


def parse_mark(name: str) -> tuple[int, str] | None:
    reply, _, part = name.partition(".")
    if not reply.isdigit() or not (part.isdigit() or part == "end"):
        return None
    return int(reply), part

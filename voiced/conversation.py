"""The call's conversation, as the caller heard it.

Each agent reply is a :class:`ReplyRecord`: sentences sent, each followed by a Twilio mark,
and how many of those marks came back. A reply cut off by barge-in keeps, in the history the
LLM sees next, only the sentences whose marks were echoed before the ``clear``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import Message


@dataclass
class ReplyRecord:
    """One agent reply. Its sentences are sent in order, each followed by mark ``n.i``."""

    n: int
    sentences: list[str] = field(default_factory=list)
    heard: int = 0  # sentences whose mark came back
    interrupted: bool = False
    end_call: bool = False
    transfer_to: str = ""

    def sent(self, text: str) -> str:
        self.sentences.append(text)
        return f"{self.n}.{len(self.sentences)}"

    def end_mark(self, transfer_to: str = "") -> str:
        self.end_call = True
        self.transfer_to = transfer_to
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


class Conversation:
    """The call's history, with each agent reply cut to what the caller heard."""

    def __init__(self) -> None:
        self._items: list[Message | ReplyRecord] = []
        self.replies: dict[int, ReplyRecord] = {}

    def add_user(self, text: str) -> None:
        self._items.append(Message("user", text))

    def add_reply(self, record: ReplyRecord) -> None:
        self._items.append(record)
        self.replies[record.n] = record

    def messages(self) -> tuple[Message, ...]:
        out = []
        for item in self._items:
            if isinstance(item, ReplyRecord):
                text = item.text()
                if text:
                    out.append(Message("assistant", text))
            else:
                out.append(item)
        return tuple(out)

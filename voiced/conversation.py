"""The call's conversation, as the caller heard it.

Each agent reply is a :class:`ReplyRecord`: sentences sent, each followed by a Twilio mark,
and how many of those marks came back. A reply cut off by barge-in keeps, in the history the
LLM sees next, only the sentences whose marks were echoed before the ``clear``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .events import EndCall, Message


@dataclass
class ReplyRecord:
    """One agent reply. Its sentences are sent in order, each followed by mark ``n.i``."""

    n: int
    sentences: list[str] = field(default_factory=list)
    heard: int = 0  # sentences whose mark came back
    interrupted: bool = False
    end: EndCall | None = None  # the reply ends the call when its end mark is played

    def sent(self, text: str) -> str:
        self.sentences.append(text)
        return f"{self.n}.{len(self.sentences)}"

    def end_mark(self, end: EndCall) -> str:
        self.end = end
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
    """The call's history, with each agent reply cut to what the caller heard. At most
    ``max_items`` are kept, the oldest dropped first: whatever a caller sends (20 000 key
    presses, say), building the history for a turn is bounded work."""

    def __init__(self, max_items: int = 100) -> None:
        self._items: deque[Message | ReplyRecord] = deque()
        self._max = max_items
        self.replies: dict[int, ReplyRecord] = {}

    def _append(self, item: Message | ReplyRecord) -> None:
        self._items.append(item)
        if len(self._items) > self._max:
            old = self._items.popleft()
            if isinstance(old, ReplyRecord):
                self.replies.pop(old.n, None)

    def add_user(self, text: str) -> None:
        self._append(Message("user", text))

    def add_tools(self, messages: tuple[Message, ...]) -> None:
        """A round of tool calls and their answers, kept for the next turns (the brain must
        know what it booked, even if the caller talked over the reply that booked it)."""
        for message in messages:
            self._append(message)

    def add_reply(self, record: ReplyRecord) -> None:
        self._append(record)
        self.replies[record.n] = record

    def asked(self) -> bool:
        """Whether the agent's last words the caller heard were a question."""
        last = next((i for i in reversed(self._items) if isinstance(i, ReplyRecord) and i.text()),
                    None)
        return last is not None and last.text().rstrip().endswith("?")

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

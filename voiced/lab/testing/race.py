"""Callers racing for one slot, as separate worker processes would: each book on its own
thread with its own Trio run, all let go at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import trio

from ...errors import SlotTaken
from ...tools.builtin import Book


def race_for(books: Callable[[], Book], n: int, service: str, start: datetime) -> list[str]:
    """``n`` callers, each with a book of its own from ``books``, booking ``service`` at
    ``start`` at the same moment: "booked" or "taken" for each, in the order they finished."""
    results: list[str] = []
    go = threading.Barrier(n)

    def caller(i: int) -> None:
        book = books()

        async def main() -> None:
            go.wait()
            try:
                await book.book(service, start, f"+97250000000{i}", f"c{i}")
                results.append("booked")
            except SlotTaken:
                results.append("taken")
        trio.run(main)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results

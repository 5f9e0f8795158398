"""Log lines for a terminal, for journald, or as JSON: one line per event, whichever.

``VOICED_LOG_FORMAT`` picks: ``text`` (default: level, logger, message), ``journal`` (the
same behind a ``<N>`` syslog priority, which journald reads as the entry's level, so
``journalctl -p warning`` works) or ``json`` (one object a line, for log shippers).
Multi-line messages (tracebacks) are folded onto one line so an event stays one entry.
"""

from __future__ import annotations

import json
import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class OneLine(logging.Formatter):
    def __init__(self, style: str, worker: int | None = None) -> None:
        tag = "" if worker is None else f"[w{worker}] "
        super().__init__(f"%(levelname)s {tag}%(name)s: %(message)s")
        self._style_name = style
        self._worker = worker

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        if self._style_name == "journal":
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        if self._style_name == "json":
            event = {"level": record.levelname, "logger": record.name,
                     "message": record.getMessage(), "time": round(record.created, 3)}
            if self._worker is not None:
                event["worker"] = self._worker
            if record.exc_info:
                event["exception"] = self.formatException(record.exc_info)
            return json.dumps(event, ensure_ascii=False)
        return text


def setup(level: str = "INFO", style: str | None = None, worker: int | None = None) -> None:
    """``worker``: a worker process's index, on each of its lines (:mod:`voiced.workers`)."""
    style = style or os.environ.get("VOICED_LOG_FORMAT", "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLine(style if style in ("text", "journal", "json") else "text",
                                 worker))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler], force=True)
    for noisy in ("hypercorn.error", "httpx", "httpcore", "faster_whisper", "quart"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))

"""Structured JSON logs: message + ids and counts passed as `extra`, never record content."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime

from ingest.timeutil import rfc3339
from rag_service.timestamps import wire

_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": rfc3339(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STD and not k.startswith("_")})
        return json.dumps(wire(data), default=str)


class StderrLines:
    """stderr shared by a progress line (rewritten in place with a carriage return) and log lines:
    a log line first ends an open progress line, so the two never share a line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False

    def progress(self, text: str) -> None:
        with self._lock:
            sys.stderr.write("\r" + text)
            sys.stderr.flush()
            self._open = True

    def end_progress(self) -> None:
        with self._lock:
            self._end()

    def line(self, text: str) -> None:
        with self._lock:
            self._end()
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def _end(self) -> None:
        if self._open:
            sys.stderr.write("\n")
            self._open = False


# one stderr per process, so one coordinator (holds a lock and a flag, nothing configured)
STDERR = StderrLines()


class LineHandler(logging.Handler):
    """Writes formatted records through STDERR (after any open progress line is ended)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            STDERR.line(self.format(record))
        except Exception:
            self.handleError(record)


def setup_logging(level: str = "INFO") -> None:
    handler = LineHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # presidio warns once per unmapped spaCy label per call; those carry no signal for us
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    for noisy in ("sentence_transformers", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Structured JSON logs: message + ids and counts passed as `extra`, never record content."""

from __future__ import annotations

import json
import logging
import sys
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


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # presidio warns once per unmapped spaCy label per call; those carry no signal for us
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    for noisy in ("sentence_transformers", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Build Source instances from their config sections."""

from __future__ import annotations

from ingest.config import SourceConfig
from ingest.sources.base import Source
from ingest.sources.file import FileSource


def build_source(config: SourceConfig) -> Source:
    if config.kind == "file":
        return FileSource(config)
    raise ValueError(f"unknown source kind {config.kind!r}")

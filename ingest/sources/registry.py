"""Build Source instances from their config sections."""

from __future__ import annotations

from ingest.config import FileSourceConfig, SourceConfig
from ingest.sources.base import Source
from ingest.sources.file import FileSource
from ingest.sources.http_json import HttpJsonSource


def build_source(config: SourceConfig) -> Source:
    if isinstance(config, FileSourceConfig):
        return FileSource(config)
    return HttpJsonSource(config)

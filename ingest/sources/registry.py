"""Build Source instances from their config sections."""

from __future__ import annotations

from ingest.config import (
    FileSourceConfig,
    GongSourceConfig,
    HttpJsonSourceConfig,
    HubSpotSourceConfig,
    SalesforceSourceConfig,
    SourceConfig,
    ZendeskSourceConfig,
)
from ingest.sources.base import Source


def build_source(config: SourceConfig) -> Source:
    if isinstance(config, FileSourceConfig):
        from ingest.sources.file import FileSource

        return FileSource(config)
    if isinstance(config, HttpJsonSourceConfig):
        from ingest.sources.http_json import HttpJsonSource

        return HttpJsonSource(config)
    if isinstance(config, HubSpotSourceConfig):
        from ingest.sources.hubspot import HubSpotSource

        return HubSpotSource(config)
    if isinstance(config, ZendeskSourceConfig):
        from ingest.sources.zendesk import ZendeskSource

        return ZendeskSource(config)
    if isinstance(config, SalesforceSourceConfig):
        from ingest.sources.salesforce import SalesforceSource

        return SalesforceSource(config)
    assert isinstance(config, GongSourceConfig)
    from ingest.sources.gong import GongSource

    return GongSource(config)

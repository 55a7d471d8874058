"""Build the configured IndexStore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.config import IndexConfig
from ingest.index.base import IndexStore

if TYPE_CHECKING:
    from qdrant_client import QdrantClient


def open_index_store(config: IndexConfig, dimension: int) -> IndexStore:
    if config.backend == "edge":
        from ingest.index.edge import EdgeIndexStore

        return EdgeIndexStore(config.path, dimension, dense=config.dense_search)
    from ingest.index.qdrant_server import QdrantIndexStore

    client = qdrant_client_for(config)
    return QdrantIndexStore(client, config.collection, dimension, dense=config.dense_search)


def qdrant_client_for(config: IndexConfig) -> QdrantClient:
    from qdrant_client import QdrantClient

    if not config.qdrant_url:
        raise ValueError("index.backend=qdrant needs index.qdrant_url (or QDRANT_URL)")
    if config.qdrant_url == ":memory:":
        return QdrantClient(location=":memory:")
    key = config.qdrant_api_key.get_secret_value() if config.qdrant_api_key else None
    return QdrantClient(url=config.qdrant_url, api_key=key, timeout=30)

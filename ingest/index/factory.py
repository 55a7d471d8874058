"""Build the configured IndexStore."""

from __future__ import annotations

from ingest.config import IndexConfig
from ingest.index.base import IndexStore


def open_index_store(config: IndexConfig, dimension: int) -> IndexStore:
    if config.backend == "edge":
        from ingest.index.edge import EdgeIndexStore

        return EdgeIndexStore(config.path, dimension)
    from qdrant_client import QdrantClient

    from ingest.index.qdrant_server import QdrantIndexStore

    if not config.qdrant_url:
        raise ValueError("index.backend=qdrant needs index.qdrant_url (or QDRANT_URL)")
    if config.qdrant_url == ":memory:":
        client = QdrantClient(location=":memory:")
    else:
        key = config.qdrant_api_key.get_secret_value() if config.qdrant_api_key else None
        client = QdrantClient(url=config.qdrant_url, api_key=key, timeout=30)
    return QdrantIndexStore(client, config.collection, dimension)

"""Index stores over Qdrant: the embedded engine (qdrant-edge) and qdrant-client (server)."""

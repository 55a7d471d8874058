"""Ingest: pull CRM records, apply policies, chunk, embed and write the index."""

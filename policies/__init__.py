"""Policy as data: consent and redaction rules, validated at startup.

This package imports nothing else of ours (imports flow rag_service -> ingest -> policies).
"""

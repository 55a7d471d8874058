"""HTTP API of crm-rag-refresh: /query for assistants, admin and audit endpoints."""

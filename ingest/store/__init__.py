"""The state store (SQLAlchemy Core over SQLite or PostgreSQL, schema by Alembic): cursors, the
record ledger and history, quarantine, suppressions and receipts, the audit log, job runs,
schedules, locks and fences between processes, index generations."""

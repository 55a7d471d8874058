"""Alembic migrations of the state store (PostgreSQL). Applied at start-up by StateStore."""

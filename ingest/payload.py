"""The per-chunk provenance payload. This module is the only place that spells its keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ingest.models import Chunk, RecordRef, SourceRecord

POINT_NAMESPACE = uuid.UUID("6f1c1f4e-2b7a-5d7e-9c1a-3c6b2f0d9a11")

# identity
TENANT_ID = "tenant_id"
SOURCE = "source"  # source instance name
SYSTEM = "system"  # hubspot / zendesk / salesforce / gong / file
RECORD_TYPE = "record_type"
RECORD_ID = "record_id"
RECORD_KEY = "record_key"  # tenant:source:record_id, one keyword for exact record filters
RECORD_URL = "record_url"
RECORD_VERSION = "record_version"
SOURCE_UPDATED_AT = "source_updated_at"
ACCOUNT_ID = "account_id"
CONTENT_HASH = "content_hash"
# chunk
CHUNK_INDEX = "chunk_index"
CHAR_START = "char_start"
CHAR_END = "char_end"
TOKEN_COUNT = "token_count"
TEXT = "text"  # redacted
# access and consent
ACL_OWNER = "acl_owner"
ACL_TEAMS = "acl_teams"
CONSENT_TAGS = "consent_tags"
PURPOSES = "purposes"
CONSENT_POLICY_VERSION = "consent_policy_version"
# redaction (types and counts only)
REDACTION = "redaction"
# processing
EMBEDDING_MODEL = "embedding_model"
CHUNKER = "chunker"
INGEST_RUN_ID = "ingest_run_id"
INDEXED_AT = "indexed_at"

KEYWORD_INDEXES = (
    TENANT_ID,
    SOURCE,
    RECORD_TYPE,
    RECORD_ID,
    RECORD_KEY,
    ACCOUNT_ID,
    ACL_OWNER,
    ACL_TEAMS,
    PURPOSES,
)
INTEGER_INDEXES = (CHUNK_INDEX,)
DATETIME_INDEXES = (SOURCE_UPDATED_AT,)
# stored as the writer's isoformat() text (RFC 3339 with a zone; the datetime index parses it);
# the API re-spells them on the way out (rag_service.timestamps.payload_view)
TIMESTAMP_KEYS = (SOURCE_UPDATED_AT, INDEXED_AT)


def point_id(ref: RecordRef, chunk_index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{ref.key}:{chunk_index}"))


def access_payload(
    record: SourceRecord, purposes: tuple[str, ...], granted: tuple[str, ...], consent_version: str
) -> dict[str, Any]:
    """The part of the payload that can change without re-embedding (ACL, consent, links)."""
    return {
        RECORD_URL: record.url,
        RECORD_VERSION: record.version,
        SOURCE_UPDATED_AT: record.updated_at.isoformat(),
        ACCOUNT_ID: record.account_id,
        ACL_OWNER: record.acl.owner_id,
        ACL_TEAMS: list(record.acl.team_ids),
        CONSENT_TAGS: list(granted),
        PURPOSES: list(purposes),
        CONSENT_POLICY_VERSION: consent_version,
    }


def chunk_payload(
    *,
    record: SourceRecord,
    chunk: Chunk,
    access: dict[str, Any],
    content_hash: str,
    redaction_policy_version: str,
    detector_version: str,
    embedding_model: str,
    chunker: str,
    run_id: str,
    indexed_at: datetime,
) -> dict[str, Any]:
    ref = record.ref
    return {
        TENANT_ID: ref.tenant_id,
        SOURCE: ref.source,
        SYSTEM: record.system,
        RECORD_TYPE: record.record_type,
        RECORD_ID: ref.record_id,
        RECORD_KEY: ref.key,
        CONTENT_HASH: content_hash,
        CHUNK_INDEX: chunk.chunk_index,
        CHAR_START: chunk.char_start,
        CHAR_END: chunk.char_end,
        TOKEN_COUNT: chunk.token_count,
        TEXT: chunk.text,
        REDACTION: {
            "counts": chunk.redaction_counts,
            "policy_version": redaction_policy_version,
            "detector": detector_version,
        },
        EMBEDDING_MODEL: embedding_model,
        CHUNKER: chunker,
        INGEST_RUN_ID: run_id,
        INDEXED_AT: indexed_at.isoformat(),
        **access,
    }

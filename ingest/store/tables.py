"""Tables of the state store (SQLAlchemy Core). One metadata for every table we own."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("watermark", sa.String(128)),
    sa.Column("last_id", sa.String(256)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _ledger_columns() -> list[sa.Column[object]]:
    """The columns of a ledger row: the live ledger and the snapshots of other generations."""
    return [
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(256), primary_key=True),
        sa.Column("record_type", sa.String(16), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("access_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("chunk_count", sa.Integer, nullable=False, default=0),
        sa.Column("redaction_policy", sa.String(64)),
        sa.Column("consent_policy", sa.String(64)),
        sa.Column("model_id", sa.String(256)),
        sa.Column("last_run_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


# the ledger of the live index generation
ledger = sa.Table("record_ledger", metadata, *_ledger_columns())
sa.Index("ix_ledger_source_status", ledger.c.source, ledger.c.status)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("locator", sa.String(512), nullable=False),
    sa.Column("record_id", sa.String(256)),
    sa.Column("reason", sa.String(1024), nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_run_id", sa.String(64)),
    sa.UniqueConstraint("source", "locator", "raw_sha256", name="uq_quarantine_item"),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.String(1024)),
)

source_locks = sa.Table(
    "source_locks",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("source", sa.String(64)),
    sa.Column("record_id", sa.String(256)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    # a record that must never be indexed or returned: erased (forever) or consent revoked
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("record_key", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(256), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # erasure | consent_revoked
    sa.Column("receipt_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

record_contacts = sa.Table(
    "record_contacts",
    metadata,
    # which contacts a record is linked to (contact id, or sha256 of the lower-cased e-mail)
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("contact_key", sa.String(128), primary_key=True),
    sa.Column("record_key", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(256), nullable=False),
)
# a record's links are replaced on every write of it (privacy.write_links): without this index that
# delete scans every link of every record, a cost per written record that grows with the ledger
sa.Index("ix_record_contacts_record_key", record_contacts.c.record_key)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("receipt_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),  # erasure | consent_revocation
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),  # hashed subject, never the value
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # JSON: ids, counts, collections, verification
)

record_history = sa.Table(
    "record_history",
    metadata,
    # every indexing event of a record: versions indexed, redaction summaries, purges
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("record_key", sa.String(512), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),  # indexed | payload_update | purged | deleted
    sa.Column("version", sa.String(128)),
    sa.Column("source_updated_at", sa.DateTime(timezone=True)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("chunk_count", sa.Integer),
    sa.Column("redaction_counts", sa.Text),  # JSON: entity type -> count
    sa.Column("redaction_policy", sa.String(64)),
    sa.Column("consent_policy", sa.String(64)),
    sa.Column("model_id", sa.String(256)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("reason", sa.String(64)),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
)

job_schedules = sa.Table(
    "job_schedules",
    metadata,
    # one row per scheduled job (kind + target: a source, a partition "<source>#<p>", or "*"),
    # shared by every process that runs jobs (`serve` and `worker`): a due row is claimed with
    # SELECT ... FOR UPDATE SKIP LOCKED, so exactly one process fires each run
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
)

rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    # per-API-key token buckets shared by every API replica (api.rate_limit_store: state)
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

write_intents = sa.Table(
    "write_intents",
    metadata,
    # records a page is about to write: an erasure or revocation waits for them to settle before it
    # verifies, so no write in flight can bring a purged record back (ingest/store/fence.py)
    sa.Column("owner", sa.String(128), primary_key=True),
    sa.Column("record_key", sa.String(512), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

run_owners = sa.Table(
    "run_owners",
    metadata,
    # which process owns a running job run (host:pid:tag) and until when without a sign of life:
    # a run whose owner is gone is marked "abandoned" instead of staying "running" forever
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

subject_suppressions = sa.Table(
    "subject_suppressions",
    metadata,
    # an erased contact (by contact id, hashed e-mail or hashed phone): records naming it are not
    # indexed, now or later, until an admin lifts the suppression
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("contact_key", sa.String(128), primary_key=True),
    sa.Column("receipt_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

consent_baselines = sa.Table(
    "consent_baselines",
    metadata,
    # a record revoked through the API: the source's consent value (hashed) when the record was
    # first seen after the revocation. The revocation stands until that value changes.
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("record_key", sa.String(512), primary_key=True),
    sa.Column("consent_hash", sa.String(64), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

index_generations = sa.Table(
    "index_generations",
    metadata,
    # the generations of an index (named by its collection): one live, at most one previous (the
    # rollback target), building ones; the one truth every process reads (no local pointer file)
    sa.Column("index_name", sa.String(64), primary_key=True),
    sa.Column("generation", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # building | live | previous | retired
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("switched_at", sa.DateTime(timezone=True)),
)

generation_ledgers = sa.Table(
    "generation_ledgers",
    metadata,
    # the ledger that matches a generation that is not live (previous: for rollback; building:
    # staged before the swap). The live generation's ledger is record_ledger.
    sa.Column("generation", sa.String(64), primary_key=True),
    *_ledger_columns(),
)

generation_cursors = sa.Table(
    "generation_cursors",
    metadata,
    sa.Column("generation", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("watermark", sa.String(128)),
    sa.Column("last_id", sa.String(256)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

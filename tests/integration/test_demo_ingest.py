"""The demo set through the real pipeline: embedded Qdrant engine, Presidio, the real model."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from ingest import payload as P
from ingest.models import RecordRef, RunCounts
from policies.consent import ConsentPolicy
from policies.models import Admit, ConsentStatus
from rag_service.services import Services


def _payloads(services: Services) -> list[dict[str, Any]]:
    return services.index.scroll_payloads()


def test_initial_load_counts(demo_services: Services, truth: dict[str, Any]) -> None:
    reports = demo_services.initial_reports  # type: ignore[attr-defined]
    assert all(r.status == "succeeded" for r in reports)
    for r in reports:  # every item fetched ends in exactly one outcome
        assert r.counts["fetched"] == sum(r.counts[name] for name in RunCounts.OUTCOMES), r.counts
    deleted = sum(r.counts["deleted"] for r in reports)
    quarantined = sum(r.counts["quarantined"] for r in reports)
    fetched = sum(r.counts["fetched"] for r in reports) - deleted - quarantined  # records only
    indexed = sum(r.counts["indexed"] for r in reports)
    excluded = sum(r.counts["excluded"] for r in reports)
    tombstones = sum(len(v) for v in truth["tombstones"].values())
    assert deleted == tombstones
    assert fetched == len(truth["records"]) - tombstones
    granted = sum(
        1
        for k, r in truth["records"].items()
        if r["consent"] == "granted"
        and k.split(":")[1] not in {t for v in truth["tombstones"].values() for t in v}
    )
    assert indexed == granted
    assert excluded == fetched - granted
    assert sum(r.counts["quarantined"] for r in reports) == sum(truth["malformed"].values())
    assert sum(r.counts["chunks_written"] for r in reports) == demo_services.index.count()


def test_no_original_pii_value_in_the_index(demo_services: Services, truth: dict[str, Any]) -> None:
    blob = json.dumps(_payloads(demo_services)).lower()
    planted = {v for r in truth["records"].values() for v in r["pii"]}
    assert len(planted) > 500
    blob_digits = re.sub(r"\D", "", blob)
    leaked = []
    for value in planted:
        needles = [value.lower()]
        if " " in value and not re.search(r"\d", value):  # a name: also its parts
            needles += [p.lower() for p in value.split() if len(p) > 3]
        if re.search(r"\d", value):  # numbers: digits only, in case of reformatting
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 9:
                if digits in blob_digits:
                    leaked.append("<digits>")
                continue
        leaked += [
            n  # the plain substring test first: the word-boundary search only where it can match
            for n in needles
            if n in blob and re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", blob)
        ]
    assert not leaked, f"{len(leaked)} planted PII values found in index payloads"


def test_state_and_audit_hold_no_pii(demo_services: Services, truth: dict[str, Any]) -> None:
    planted = {v.lower() for r in truth["records"].values() for v in r["pii"]}
    with demo_services.state.engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("record_ledger", "quarantine", "job_runs", "audit_events")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")  # noqa: S608 (fixed table names)
        ).lower()
    assert not [v for v in planted if v in dump]


def test_only_consented_records_are_indexed(demo_services: Services, truth: dict[str, Any]) -> None:
    indexed = {(p[P.TENANT_ID], p[P.RECORD_ID]) for p in _payloads(demo_services)}
    for key, rec in truth["records"].items():
        tenant, rid = key.split(":")
        if rec["consent"] != "granted":
            assert (tenant, rid) not in indexed, f"{key} ({rec['consent']}) must not be indexed"
    tombstoned = {(t, rid) for t, ids in truth["tombstones"].items() for rid in ids}
    assert not (indexed & tombstoned)


def test_every_chunk_has_full_provenance(demo_services: Services) -> None:
    required = {
        P.TENANT_ID,
        P.SOURCE,
        P.SYSTEM,
        P.RECORD_TYPE,
        P.RECORD_ID,
        P.RECORD_URL,
        P.RECORD_VERSION,
        P.SOURCE_UPDATED_AT,
        P.CONTENT_HASH,
        P.CHUNK_INDEX,
        P.CHAR_START,
        P.CHAR_END,
        P.TEXT,
        P.ACL_OWNER,
        P.ACL_TEAMS,
        P.CONSENT_TAGS,
        P.PURPOSES,
        P.CONSENT_POLICY_VERSION,
        P.REDACTION,
        P.EMBEDDING_MODEL,
        P.INGEST_RUN_ID,
        P.INDEXED_AT,
    }
    payloads = _payloads(demo_services)
    assert payloads
    for p in payloads:
        assert required <= set(p)
        assert p[P.PURPOSES], "indexed chunks always carry at least one purpose"
        assert set(p[P.REDACTION]) == {"counts", "policy_version", "detector"}
        assert all(isinstance(v, int) for v in p[P.REDACTION]["counts"].values())
        assert p[P.EMBEDDING_MODEL].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert sum(sum(p[P.REDACTION]["counts"].values()) for p in payloads) > 500


def test_quarantine_keeps_reasons(demo_services: Services, truth: dict[str, Any]) -> None:
    rows = demo_services.state.list_quarantine(limit=1000)
    assert len(rows) == sum(truth["malformed"].values())
    reasons = " | ".join(r["reason"] for r in rows)
    for expected in ("updated_at", "record_type", "record_id", "turns", "invalid JSON"):
        assert expected in reasons


def test_second_sync_embeds_nothing(fresh_demo: tuple[Services, TestClient]) -> None:
    services = fresh_demo[0]
    for cfg in services.settings.sources:
        services.state.reset_cursor(cfg.name)  # force a full re-read of every record
        report = services.run(cfg.name, actor="test")
        assert report.status == "succeeded"
        assert report.counts["embedded"] == 0
        assert report.counts["indexed"] == 0
        assert report.counts["unchanged"] > 0


def test_consent_policy_agrees_with_payload_purposes(demo_services: Services) -> None:
    policy = ConsentPolicy.from_file()
    for cfg in demo_services.settings.sources[:1]:
        for entry in demo_services.state.ledger_for_source(cfg.name, status="indexed")[:20]:
            hits = demo_services.index.record_chunks(entry.ref)
            assert len(hits) == entry.chunk_count
            tags = hits[0].payload[P.CONSENT_TAGS]
            decision = policy.decide(dict.fromkeys(tags, ConsentStatus.GRANTED))
            assert isinstance(decision, Admit)
            assert list(decision.purposes) == hits[0].payload[P.PURPOSES]
    assert demo_services.index.count(ref=RecordRef(tenant_id="x", source="y", record_id="z")) == 0

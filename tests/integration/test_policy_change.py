"""A redaction-policy, model or consent-policy change is detected and the affected records are
re-processed: re-embedded only when their text or model changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ingest import payload as P
from ingest.config import FileSourceConfig
from policies.loader import DEFAULT_POLICY_DIR
from policies.redaction import PresidioRedactor
from rag_service.config import PolicyPaths, Settings
from rag_service.services import build_services
from tests.conftest import make_settings


def setup(tmp_path: Path) -> Settings:
    folder = tmp_path / "crm"
    folder.mkdir()
    recs = [
        {
            "record_id": f"N-{i}",
            "record_type": "note",
            "updated_at": f"2026-10-01T10:0{i}:00+00:00",
            "url": f"https://crm.example/{i}",
            "owner_id": "u-1",
            "consent": consent,
            "body": f"Call Dana Whitfield at (415) 555-01{i}0 about renewal {i}.",
        }
        for i, consent in enumerate(
            [{"sales_ai": "granted"}, {"support_ai": "granted"}, {"marketing": "granted"}]
        )
    ]
    (folder / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    settings = make_settings(tmp_path / "var", tmp_path)
    return settings.model_copy(
        update={"sources": (FileSourceConfig(name="src", tenant_id="acme", path=folder),)}
    )


def test_policy_and_consent_changes_mark_records_for_reprocessing(
    tmp_path: Path, embedder: Any, redactor: Any
) -> None:
    settings = setup(tmp_path)
    first = build_services(settings, embedder=embedder, redactor=redactor)
    first.run("src", actor="t")
    assert first.stale_records("src") == []
    first.close()

    # new redaction policy version (phone numbers no longer redacted) and a broader consent policy
    red = yaml.safe_load((DEFAULT_POLICY_DIR / "redaction.yaml").read_text())
    red["version"] = "redaction-test-2"
    red["patterns"] = [p for p in red["patterns"] if p["entity"] != "PHONE_NUMBER"]
    red["entities"] = [e for e in red["entities"] if e != "PHONE_NUMBER"]
    red["thresholds"].pop("PHONE_NUMBER")
    con = yaml.safe_load((DEFAULT_POLICY_DIR / "consent.yaml").read_text())
    con["version"] = "consent-test-2"
    con["purposes"]["support_assistant"]["allowed_by"].append("marketing")
    (tmp_path / "redaction.yaml").write_text(yaml.safe_dump(red))
    (tmp_path / "consent.yaml").write_text(yaml.safe_dump(con))
    changed = settings.model_copy(
        update={
            "policies": PolicyPaths(consent=tmp_path / "consent.yaml", redaction=tmp_path / "redaction.yaml")
        }
    )
    second = build_services(
        changed, embedder=embedder, redactor=PresidioRedactor.from_file(tmp_path / "redaction.yaml")
    )
    try:
        event = second.state.list_audit(action="policy_change", limit=1)[0]
        assert set(event["details"]["changed"]) == {"consent_policy", "redaction_policy"}
        assert sorted(second.stale_records("src")) == [
            "N-0",
            "N-1",
            "N-2",
        ]  # N-2 was excluded: may now be admitted
        report = second.reprocess_stale("src", actor="t")
        assert report is not None
        assert report.status == "succeeded"
        assert report.counts["indexed"] == 3  # redaction policy changed: text changes, so re-embedded
        assert second.stale_records("src") == []
        payloads = {p[P.RECORD_ID]: p for p in second.index.scroll_payloads(tenant_id="acme")}
        assert set(payloads) == {"N-0", "N-1", "N-2"}
        assert payloads["N-2"][P.PURPOSES] == ["support_assistant"]
        assert all(p[P.REDACTION]["policy_version"] == "redaction-test-2" for p in payloads.values())
        assert all(p[P.CONSENT_POLICY_VERSION] == "consent-test-2" for p in payloads.values())
        assert "(415) 555-0100" in payloads["N-0"][P.TEXT]  # the new policy really applied
    finally:
        second.close()

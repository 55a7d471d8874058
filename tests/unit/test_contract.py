from __future__ import annotations

from typing import Any

import pytest

from ingest.models import RecordFailure, SourceRecord
from ingest.stages.contract import ContractViolation, parse_json, validate_record

GOOD: dict[str, Any] = {
    "record_id": "N-1",
    "record_type": "note",
    "updated_at": "2026-10-01T10:00:00+00:00",
    "url": "https://crm.example/notes/N-1",
    "owner_id": "u-1",
    "body": "Renewal discussed.",
    "consent": {"assistant_use": "granted"},
}


def check(raw: Any) -> SourceRecord | RecordFailure:
    return validate_record(raw, tenant_id="t1", source="s1", system="file", locator="f.jsonl:1")


def test_good_record_passes() -> None:
    rec = check(GOOD)
    assert isinstance(rec, SourceRecord)
    assert rec.ref.key == "t1:s1:N-1"
    assert rec.version == "2026-10-01T10:00:00+00:00"  # falls back to updated_at


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"updated_at": "2026-10-01T10:00:00"}, "updated_at"),  # naive timestamps are ambiguous
        ({"record_type": "memo"}, "record_type"),
        ({"record_id": ""}, "record_id"),
        ({"body": "   "}, "body"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"tenant_id": "other"}, "tenant_id"),
        ({"consent": {"assistant_use": "maybe"}}, "consent"),
        ({"owner_id": None}, "owner_id"),
        ({"record_type": "transcript", "turns": []}, "turns"),
    ],
)
def test_contract_violations_are_reported(change: dict[str, Any], reason: str) -> None:
    result = check({**GOOD, **change})
    assert isinstance(result, RecordFailure)
    assert reason in result.reason
    assert result.locator == "f.jsonl:1"


def test_failure_reason_never_echoes_values() -> None:
    secret = "maria.gonzalez@example.com"
    result = check({**GOOD, "updated_at": secret})
    assert isinstance(result, RecordFailure)
    assert secret not in result.reason


def test_non_object_is_a_failure() -> None:
    result = check(["not", "an", "object"])
    assert isinstance(result, RecordFailure)
    assert result.record_id is None


def test_run_errors_never_echo_record_values() -> None:
    from ingest.models import Acl
    from ingest.pipeline import safe_error

    secret = "maria.gonzalez@example.com"
    try:
        Acl(owner_id=secret * 20)  # too long: pydantic echoes the input in its message
    except Exception as exc:
        message = safe_error(exc)
    assert secret not in message
    assert message.startswith("ValidationError: 1 error(s) at owner_id")
    assert "boom" in safe_error(RuntimeError("boom"))


def test_a_contact_field_the_contract_does_not_know_never_quarantines_the_record() -> None:
    from ingest.stages.render import known_identifiers

    contact = {
        "contact_id": "c-1",
        "name": "Ana Okafor",
        "email": "ana@okafor.example",
        "phone": "+1 415 555 0132",
        "username": "aokafor",
        "identifiers": ["ACCT-88412"],
        "lifecycle_stage": "customer",  # a CRM's own field
    }
    rec = check({**GOOD, "contacts": [contact]})
    assert isinstance(rec, SourceRecord), rec
    assert known_identifiers(rec) == sorted(
        ["Ana Okafor", "ana@okafor.example", "+1 415 555 0132", "aokafor", "ACCT-88412"]
    )
    # what the CRM knows shapes the redacted text, so it is part of the content hash
    other = check({**GOOD, "contacts": [{**contact, "phone": "+1 415 555 0199"}]})
    assert isinstance(other, SourceRecord) and other.content_hash() != rec.content_hash()


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "reason"),
    [  # issue 19, defect 1: each of these once stopped a whole source or cost seconds and GBs
        ({"version": 7 * 10**30}, "more than 20 digits"),
        ({"title": "bad \ud800 text"}, "lone surrogate"),
        ({"record_id": "N-\udcff"}, "lone surrogate"),
        ({"account_id": nested(40)}, "nested deeper than 16"),
        ({"score": float("inf")}, "not finite"),
        ({"contacts": [{"contact_id": f"c{i}"} for i in range(501)]}, "contacts: more than 500"),
        ({"team_ids": [f"t{i}" for i in range(501)]}, "team_ids: more than 500"),
        ({"body": "b" * 200_001}, "body: longer than"),
        ({"title": "t" * 100_000, "body": "b" * 160_000}, "title, body and turns together"),
        (
            {"record_type": "transcript", "turns": [{"speaker_id": "s", "text": "y" * 20_001}]},
            "a turn is longer than",
        ),
        ({"record_type": "transcript", "turns": [{"speaker_id": "s", "text": "y"}] * 5_001}, "turns: more"),
        ({"version": "v" * 129}, "version: longer than 128"),
        ({"consent": object()}, "unsupported value type"),
    ],
)
def test_contract_bounds(change: dict[str, Any], reason: str) -> None:
    result = check({**GOOD, **change})
    assert isinstance(result, RecordFailure)
    assert reason in result.reason, result.reason


def test_validation_never_raises_on_odd_input() -> None:
    class Weird(dict[str, Any]):
        def get(self, *_: Any, **__: Any) -> Any:
            raise RuntimeError("odd mapping")

    result = check(Weird(GOOD))
    assert isinstance(result, RecordFailure)
    assert result.reason == "record: could not be validated (RuntimeError)"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[" * 100_000, "nested deeper"),
        (b'{"version": ' + b"7" * 5_000 + b"}", "more than 20 digits"),
        (b'{"record_id": "N-\xff"}', "not valid UTF-8 at byte 17"),
        (b'{"x": NaN}', "NaN is not a JSON number"),
        (b"{", "invalid JSON"),
    ],
)
def test_parse_json_reports_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        parse_json(line)
    assert reason in caught.value.reason

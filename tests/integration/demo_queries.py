"""Questions against the demo set and the raw records behind them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from policies.consent import ConsentPolicy
from policies.models import Admit, ConsentStatus
from tests.conftest import headers


def purpose_for(tags: dict[str, str]) -> str:
    decision = ConsentPolicy.from_file().decide({k: ConsentStatus(v) for k, v in tags.items()})
    assert isinstance(decision, Admit)
    return decision.purposes[0]


def raw_record(tenant: str, rid: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "demo" / "crm" / tenant
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            if f'"record_id": "{rid}"' in line:
                data: dict[str, Any] = json.loads(line)
                return data
    raise KeyError(rid)


def ask(
    client: TestClient,
    question: str,
    tenant: str,
    purpose: str,
    user: str = "nobody",
    teams: list[str] | None = None,
    **extra: Any,
) -> Any:
    body = {
        "question": question,
        "tenant_id": tenant,
        "purpose": purpose,
        "user": {"user_id": user, "team_ids": teams or []},
        **extra,
    }
    return client.post("/query", json=body, headers=headers("assistant"))

"""Scale the bundled demo records to N records (new ids, same realistic text) in a drop folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_records() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted((ROOT / "demo" / "crm").glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("record_type") in ("note", "ticket", "transcript"):
                out.append(rec)
    return out


def write_corpus(folder: Path, n: int, tenant: str = "bench") -> int:
    """n records for one tenant, consent granted, cycling through the demo texts."""
    base = demo_records()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            rec = dict(base[i % len(base)])
            rec["record_id"] = f"B-{i:07d}"
            rec["tenant_id"] = tenant
            rec["consent"] = {"assistant_use": "granted"}
            rec["updated_at"] = (
                f"2026-10-{1 + (i // 86400) % 28:02d}T{(i // 3600) % 24:02d}:"
                f"{(i // 60) % 60:02d}:{i % 60:02d}+00:00"
            )
            fh.write(json.dumps(rec) + "\n")
    return n


def touch_one_percent(root: Path) -> int:
    """Edit 1% of the records (consented ones) in place: new text and a newer updated_at (now:
    a date in the future would be held by the sync horizon, ingest/stages/horizon.py)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    files = sorted(root.rglob("*.jsonl"))
    total = sum(len(f.read_text().splitlines()) for f in files)
    want = max(1, total // 100)
    changed = 0
    for f in files:
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if changed >= want or i % 9 != 4 or '"assistant_use": "granted"' not in line:
                continue
            rec = json.loads(line)
            rec["updated_at"] = now
            if "body" in rec:
                rec["body"] += " Update: the customer signed the renewal today."
            else:
                rec["turns"].append({"speaker_id": "sp-rep", "role": "rep", "text": "Renewal signed today."})
            lines[i] = json.dumps(rec)
            changed += 1
        f.write_text("\n".join(lines) + "\n")
    return changed

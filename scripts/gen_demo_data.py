"""Generate the bundled demo CRM data set (deterministic). Writes demo/crm/<tenant>/*.jsonl
and demo/truth.json (what was planted where: consent classes, PII values, canary questions).

    python scripts/gen_demo_data.py
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make bench/ importable

from bench.synth import FIRST, LAST, iban, luhn  # noqa: E402

ROOT = REPO / "demo"
SEED = 20261124
BASE_TIME = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

TENANTS = {
    "northwind": {"name": "Northwind Software", "crm": "https://crm.northwind.example"},
    "contoso": {"name": "Contoso Payments", "crm": "https://crm.contoso.example"},
    "globex": {"name": "Globex Telecom", "crm": "https://crm.globex.example"},
}
ACCOUNTS = [
    ("Harbor Freight Lines", "harborfreight.example"),
    ("Bluewater Clinics", "bluewater.example"),
    ("Kestrel Aerospace", "kestrel.example"),
    ("Maple Grove Schools", "maplegrove.example"),
    ("Orion Retail Group", "orionretail.example"),
    ("Pinecrest Insurance", "pinecrest.example"),
    ("Quantum Biolabs", "quantumbio.example"),
    ("Redwood Hotels", "redwoodhotels.example"),
]
PREFIX = {"note": "N", "ticket": "T", "transcript": "C"}
STREETS = [
    "Elm Street",
    "Harbor Boulevard",
    "Maple Avenue",
    "Mission Street",
    "Lakeview Drive",
    "Oak Lane",
    "Cedar Court",
    "Sunset Road",
]
CITIES = ["Springfield", "Portland", "Denver", "Boston", "Austin", "Chicago", "Seattle", "Atlanta"]

# Distinct topics: each is planted in exactly one record per tenant (canaries for retrieval tests).
TOPICS = [
    (
        "sso",
        "asked for SAML single sign-on with Okta before the renewal",
        "Which customer asked for SAML single sign-on with Okta?",
    ),
    (
        "firmware",
        "reported that the warehouse scanner firmware 4.2 crashes while syncing pallet labels",
        "Who has scanner firmware 4.2 crashing during pallet label sync?",
    ),
    (
        "gdpr",
        "needs a data processing addendum signed by their EU legal team",
        "Which account needs a data processing addendum for EU legal?",
    ),
    (
        "invoice",
        "was double charged on the March invoice and wants a credit note",
        "Which customer was double charged on the March invoice?",
    ),
    (
        "latency",
        "sees API latency spikes above two seconds every night at 2am during batch exports",
        "Who is seeing nightly API latency spikes during batch exports?",
    ),
    (
        "pilot",
        "wants a 90 day pilot for the fleet telematics module in three depots",
        "Which account wants a pilot of the fleet telematics module?",
    ),
    (
        "churn",
        "is evaluating a competitor because of the missing Spanish language support",
        "Which customer might churn over missing Spanish language support?",
    ),
    (
        "export",
        "cannot export audit reports to CSV since the last release",
        "Who cannot export audit reports to CSV?",
    ),
]
NOTE_FILLERS = [
    "Discussed rollout timeline and next steps with the project team.",
    "They are happy with onboarding so far and the admin console.",
    "Budget for next year is being finalised by procurement.",
    "Agreed to schedule a quarterly business review next month.",
    "Their IT team wants the security questionnaire answered by Friday.",
    "Usage grew 18 percent quarter over quarter across two regions.",
    "Champion is moving to a new role; need a new executive sponsor.",
    "Asked for the updated price list and volume discount tiers.",
]
TICKET_FILLERS = [
    "Customer reports the dashboard does not load in Safari.",
    "Password reset emails arrive after a long delay.",
    "Mobile app shows a blank screen after the latest update.",
    "Bulk import fails for files larger than 50 MB.",
    "Webhook deliveries are retried more often than expected.",
    "Two factor codes are rejected for some users.",
]


class Gen:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.truth: dict[str, object] = {"records": {}, "canaries": [], "malformed": {}, "tombstones": {}}

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST), self.rng.choice(LAST)

    def phone(self) -> str:
        r = self.rng
        if r.random() < 0.3:
            return r.choice(["+44 20 7946 0", "+49 30 9018 2", "+33 1 7036 4"]) + f"{r.randint(100, 999)}"
        return f"({r.choice([415, 212, 617, 303])}) 555-01{r.randint(10, 99)}"

    def card(self) -> str:
        raw = luhn(self.rng.choice(["4", "51", "55"]), 16, self.rng)
        return " ".join(raw[i : i + 4] for i in range(0, 16, 4))

    def iban(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            raw = iban("DE", "".join(str(r.randint(0, 9)) for _ in range(18)))
        else:
            raw = iban("GB", "NWBK" + "".join(str(r.randint(0, 9)) for _ in range(14)))
        return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))

    def ssn(self) -> str:
        r = self.rng
        return f"{r.randint(101, 665)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}"

    def address(self) -> str:
        r = self.rng
        return f"{r.randint(12, 9800)} {r.choice(STREETS)}, {r.choice(CITIES)}"

    def consent(self) -> tuple[str, dict[str, str]]:
        x = self.rng.random()
        if x < 0.10:
            return "missing", {}
        if x < 0.18:
            return "revoked", {"assistant_use": "revoked"}
        if x < 0.22:
            return "denied", {"assistant_use": "denied", "marketing": "granted"}
        if x < 0.25:
            return "blocked", {"assistant_use": "granted", "do_not_process": "granted"}
        if x < 0.45:
            return "granted", {"sales_ai": "granted"}
        if x < 0.60:
            return "granted", {"support_ai": "granted"}
        return "granted", {"assistant_use": "granted"}


def main() -> None:
    g = Gen()
    rng = g.rng
    records_truth: dict[str, dict[str, object]] = {}
    canaries: list[dict[str, object]] = []
    for t_index, (tenant, meta) in enumerate(TENANTS.items()):
        out_dir = ROOT / "crm" / tenant
        out_dir.mkdir(parents=True, exist_ok=True)
        owners = [f"u-{tenant[:2]}-{i:02d}" for i in range(1, 7)]
        teams = {o: [f"team-{tenant}-{'sales' if i < 3 else 'support'}"] for i, o in enumerate(owners)}
        accounts = ACCOUNTS[t_index : t_index + 6]
        topic_slots: dict[str, str] = {}
        lines: dict[str, list[dict[str, object]]] = {"notes": [], "tickets": [], "transcripts": []}
        clock = BASE_TIME + timedelta(hours=t_index)

        def tick() -> str:
            nonlocal clock
            clock += timedelta(minutes=rng.randint(7, 190))
            return clock.isoformat()

        plan = [("note", "notes", 70), ("ticket", "tickets", 36), ("transcript", "transcripts", 20)]
        for rtype, bucket, count in plan:
            for n in range(1, count + 1):
                rid = f"{PREFIX[rtype]}-{tenant[:3]}-{n:04d}"
                account, domain = rng.choice(accounts)
                owner = rng.choice(owners)
                first, last = g.person()
                cfirst, clast = g.person()
                email = f"{first.lower()}.{last.lower()}@{domain}"
                phone = g.phone()
                consent_class, consent = g.consent()
                pii: list[str] = [f"{first} {last}", email, phone]
                topic = None
                quota = {"note": 3, "ticket": 3, "transcript": 2}[rtype]
                used = sum(1 for k in topic_slots.values() if k.startswith(rid[:1]))
                if consent_class == "granted" and n % 5 == 3 and used < quota:
                    free = [t for t in TOPICS if t[0] not in topic_slots]
                    if free:
                        topic = free[0]
                        topic_slots[topic[0]] = rid
                body_parts: list[str] = []
                turns: list[dict[str, object]] = []
                if rtype == "note":
                    body_parts.append(f"Call with {first} {last} ({email}, {phone}) from {account}.")
                    if topic:
                        body_parts.append(f"{account} {topic[1]}.")
                    body_parts += rng.sample(NOTE_FILLERS, 3)
                    if rng.random() < 0.3:
                        addr = g.address()
                        body_parts.append(f"Send the signed contract to {addr}.")
                        pii.append(addr)
                    if rng.random() < 0.25:
                        ib = g.iban()
                        body_parts.append(f"Refunds go to IBAN {ib}.")
                        pii.append(ib)
                    if rng.random() < 0.15:
                        body_parts.append(f"{first.lower()} prefers to be reached on mobile.")
                    body_parts += rng.sample(NOTE_FILLERS, 2)
                    title = f"Account note: {account}"
                elif rtype == "ticket":
                    body_parts.append(rng.choice(TICKET_FILLERS))
                    if topic:
                        body_parts.append(f"The customer {topic[1]}.")
                    body_parts.append(f"Reported by {first} {last}, reachable at {phone} or {email}.")
                    if rng.random() < 0.35:
                        card = g.card()
                        body_parts.append(f"They pasted their card number {card} into the ticket by mistake.")
                        pii.append(card)
                    if rng.random() < 0.2:
                        ssn = g.ssn()
                        body_parts.append(f"Identity check used SSN {ssn}.")
                        pii.append(ssn)
                    body_parts.append(f"Agent {cfirst} {clast} escalated to tier 2.")
                    pii.append(f"{cfirst} {clast}")
                    title = f"Ticket: {account} support request"
                else:
                    rep = f"{cfirst} {clast}"
                    pii.append(rep)
                    speakers = [("sp-rep", rep, "rep"), ("sp-cust", f"{first} {last}", "customer")]
                    if rng.random() < 0.5:
                        xf, xl = g.person()
                        speakers.append(("sp-cust2", f"{xf} {xl}", "customer"))
                        pii.append(f"{xf} {xl}")
                    script = [
                        (0, f"Hi {first}, thanks for joining. This is {cfirst} from {meta['name']}."),
                        (1, f"Hi {cfirst}. Good to talk. I have our ops lead on the line too."),
                        (0, "Great. Let's review how the rollout is going at " + account + "."),
                        (1, "Mostly well. " + rng.choice(NOTE_FILLERS)),
                    ]
                    if topic:
                        script.append((1, f"One more thing: our team {topic[1]}."))
                        script.append((0, "Understood, I will take that to product and follow up this week."))
                    script += [
                        (0, "Can I confirm the best number to reach you?"),
                        (1, f"Sure, it's {phone}, or email {email}."),
                        (len(speakers) - 1, "And please copy me on the summary. " + rng.choice(NOTE_FILLERS)),
                        (0, rng.choice(NOTE_FILLERS)),
                        (1, "Thanks, talk soon."),
                    ]
                    for i, (who, text) in enumerate(script):
                        sid, sname, role = speakers[who]
                        turns.append(
                            {
                                "speaker_id": sid,
                                "speaker_name": sname,
                                "role": role,
                                "text": text,
                                "start_ms": i * 14_000,
                            }
                        )
                    title = f"Call: {account} check-in"
                record: dict[str, object] = {
                    "record_id": rid,
                    "record_type": rtype,
                    "tenant_id": tenant,
                    "url": f"{meta['crm']}/{bucket}/{rid}",
                    "version": "1",
                    "updated_at": tick(),
                    "title": title,
                    "account_id": f"acct-{domain.split('.')[0]}",
                    "owner_id": owner,
                    "team_ids": teams[owner],
                    "contacts": [
                        {
                            "contact_id": f"c-{first.lower()}-{last.lower()}",
                            "name": f"{first} {last}",
                            "email": email,
                        }
                    ],
                    "consent": consent,
                }
                if rtype == "transcript":
                    record["turns"] = turns
                else:
                    record["body"] = " ".join(body_parts)
                lines[bucket].append(record)
                records_truth[f"{tenant}:{rid}"] = {
                    "consent": consent_class,
                    "pii": pii,
                    "owner_id": owner,
                    "team_ids": teams[owner],
                    "topic": topic[0] if topic else None,
                    "record_type": rtype,
                }
        for key, rid in topic_slots.items():
            question = next(t[2] for t in TOPICS if t[0] == key)
            canaries.append({"tenant_id": tenant, "question": question, "record_id": rid, "topic": key})
        # malformed records: each breaks the contract differently
        bad = [
            '{"record_id": "N-bad-0001", "record_type": "note", "updated_at": "not a date", "url": "https://x.example/1", "owner_id": "u", "body": "x"}',
            '{"record_id": "N-bad-0002", "record_type": "memo", "updated_at": "2026-10-01T10:00:00+00:00", "url": "https://x.example/2", "owner_id": "u", "body": "x"}',
            '{"record_type": "note", "updated_at": "2026-10-01T10:00:00+00:00", "body": "no id"}',
            '{"record_id": "T-bad-0004", "record_type": "transcript", "updated_at": "2026-10-01T10:00:00+00:00", "url": "https://x.example/4", "owner_id": "u", "turns": []}',
            '{"record_id": "N-bad-0005", "record_type": "note", "updated_at": "2026-10-01T10:00:00',
        ]
        g.truth["malformed"][tenant] = len(bad)  # type: ignore[index]
        # one tombstone per tenant: the first ticket was deleted in the CRM later on
        deleted_id = f"T-{tenant[:3]}-0001"
        tomb = {
            "record_id": deleted_id,
            "deleted": True,
            "updated_at": (clock + timedelta(hours=2)).isoformat(),
        }
        g.truth["tombstones"][tenant] = [deleted_id]  # type: ignore[index]
        for bucket, recs in lines.items():
            with (out_dir / f"{bucket}.jsonl").open("w", encoding="utf-8") as fh:
                for rec in recs:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                if bucket == "tickets":
                    fh.write(json.dumps(tomb) + "\n")
        with (out_dir / "malformed.jsonl").open("w", encoding="utf-8") as fh:
            fh.write("\n".join(bad) + "\n")
    g.truth["records"] = records_truth
    g.truth["canaries"] = canaries
    (ROOT / "truth.json").write_text(json.dumps(g.truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    total = len(records_truth)
    print(f"wrote {total} records, {sum(g.truth['malformed'].values())} malformed, {len(canaries)} canaries")  # type: ignore[attr-defined,union-attr]


if __name__ == "__main__":
    main()

"""PII redaction on a generated, labelled CRM-style set (character spans): a sanity row only.

Generated text proves little about real text (bench/pii_eval.py scores the real dev sets). Recall
counts a planted value as caught when markers cover at least 90% of its characters; precision
counts a predicted span as right when it overlaps a planted value.
"""

from __future__ import annotations

import argparse
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.synth import FIRST as DEMO_FIRST
from bench.synth import LAST as DEMO_LAST
from bench.synth import iban, luhn
from policies.redaction import PresidioRedactor, Redactor

# the demo generator's names plus harder ones (long, multi-part, less common in English text)
FIRST = [
    *DEMO_FIRST,
    "Siobhan",
    "Bartholomew",
    "Nguyen",
    "Oluwaseun",
    "Anneke",
    "Dmitri",
    "Leilani",
    "Rosalind",
]
LAST = [*DEMO_LAST, "Okonkwo", "Van der Berg", "Nakamura", "Fitzgerald"]
DOMAINS = [
    "harborfreight.com",
    "bluewater-clinics.org",
    "kestrel.aero",
    "maplegrove.edu",
    "orion-retail.co.uk",
]
TEMPLATES = [
    "Call with {PERSON} about the renewal; reach them at {PHONE_NUMBER} or {EMAIL_ADDRESS}.",
    "Ticket: customer {PERSON} pasted card {CREDIT_CARD} into the chat by mistake.",
    "Refunds for {PERSON} go to IBAN {IBAN_CODE} as agreed with finance.",
    "Identity verified with SSN {US_SSN} before the password reset.",
    "S2 customer: yeah this is {PERSON}, best number is {PHONE_NUMBER}.",
    "Spoke to {PERSON} and {PERSON} from the ops team about the rollout.",
    "{PERSON} said the export to CSV still fails; copy {EMAIL_ADDRESS} on the fix.",
    "Escalated by {PERSON}. Card on file {CREDIT_CARD}, billing contact {EMAIL_ADDRESS}.",
    "S1 rep: thanks {PERSON}, I will send the contract to {EMAIL_ADDRESS} today.",
    "Wire the deposit to {IBAN_CODE}; questions to {PERSON} on {PHONE_NUMBER}.",
    "Customer asked us to remove SSN {US_SSN} from the ticket history.",
    "Meeting notes: {PERSON} (procurement) wants volume pricing by Friday.",
]

# Non-personal text with numbers, codes and proper nouns: what precision is measured against.
DISTRACTORS = [
    "Order #48213 shipped on 2026-10-03 for $12,400.",
    "Version 4.2.1 of the Android app crashes on Pixel 8 devices.",
    "Acme Corp renewed 250 seats for the Chicago office.",
    "Invoice INV-2026-0042 totals 4,980.00 EUR, due in 30 days.",
    "SKU 4411-2290-1183 is back-ordered until November.",
    "The Salesforce sync job runs every 15 minutes from Frankfurt.",
    "Ticket 88231 was merged into 88190 by the triage bot.",
    "Renewal quote Q-2026-118 covers 3 years at 7% uplift.",
    "Harbor Freight Lines moved 1,250 pallets through Rotterdam last week.",
    "The webhook endpoint returned HTTP 502 for 14 minutes on Tuesday.",
]


def person(rng: random.Random) -> tuple[str, str]:
    full = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    style = rng.random()
    if style < 0.2:
        return full.lower(), full  # lowercase, as typed in chat
    if style < 0.3:
        return full.upper(), full
    if style < 0.4:
        return full.split()[0], full  # first name only
    return full, full


def email(rng: random.Random, name: str) -> str:
    local = name.lower().replace(" ", ".").replace("'", "")
    dom = rng.choice(DOMAINS)
    style = rng.random()
    if style < 0.15:
        return f"{local} @ {dom}"  # split by spaces
    if style < 0.25:
        return f"{local.replace('.', ' dot ')} at {dom.replace('.', ' dot ')}"
    return f"{local}@{dom}"


def digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(k))


def phone(rng: random.Random) -> str:
    def n(k: int) -> str:
        return digits(rng, k)

    return rng.choice(
        [
            f"({rng.choice(['415', '212', '617', '303'])}) 555-{n(4)}",
            f"{rng.choice(['415', '646', '720'])}-555-{n(4)}",
            f"{rng.choice(['415', '646'])}.555.{n(4)}",
            f"+1 {rng.choice(['415', '312'])} 555 {n(4)}",
            f"+44 20 7946 {n(4)}",
            f"+49 30 {n(4)} {n(3)}",
            f"+33 1 {n(2)} {n(2)} {n(2)} {n(2)}",
            f"+91 98{n(3)} {n(5)}",
        ]
    )


def card(rng: random.Random) -> str:
    if rng.random() < 0.2:
        raw = luhn("37", 15, rng)
        return f"{raw[:4]} {raw[4:10]} {raw[10:]}"
    raw = luhn(rng.choice(["4", "51", "55"]), 16, rng)
    sep = rng.choice([" ", "-", ""])
    return sep.join(raw[i : i + 4] for i in range(0, 16, 4))


def make_iban(rng: random.Random) -> str:
    value = rng.choice(
        [
            iban("DE", digits(rng, 18)),
            iban("GB", "NWBK" + digits(rng, 14)),
            iban("FR", digits(rng, 23)),
            iban("NL", "ABNA" + digits(rng, 10)),
        ]
    )
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.7 else value


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(101, 665) if n != 666])
    sep = rng.choice(["-", " "])
    return f"{area}{sep}{rng.randint(10, 99)}{sep}{rng.randint(1000, 9999)}"


@dataclass
class Example:
    text: str
    spans: list[tuple[int, int, str]]  # gold: start, end, entity type
    known_names: list[str] = field(default_factory=list)


def generate(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        text, spans, names = "", [], []
        last_name = "Sam Doe"
        pos = 0
        for part in string.Formatter().parse(template):
            literal, slot = part[0], part[1]
            text += literal
            pos += len(literal)
            if not slot:
                continue
            value: str
            if slot == "PERSON":
                value, canonical = person(rng)
                last_name = canonical
                if rng.random() < 0.7:
                    names.append(canonical)
            elif slot == "EMAIL_ADDRESS":
                value = email(rng, last_name)
            elif slot == "PHONE_NUMBER":
                value = phone(rng)
            elif slot == "CREDIT_CARD":
                value = card(rng)
            elif slot == "IBAN_CODE":
                value = make_iban(rng)
            else:
                value = ssn(rng)
            spans.append((pos, pos + len(value), slot))
            text += value
            pos += len(value)
        if rng.random() < 0.6:
            text += " " + rng.choice(DISTRACTORS)
        out.append(Example(text=text, spans=spans, known_names=names))
    return out


@dataclass
class Tally:
    gold: int = 0
    caught: int = 0
    predicted: int = 0
    right: int = 0

    def recall(self) -> float:
        return self.caught / self.gold if self.gold else 1.0

    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 1.0

    def f2(self) -> float:
        p, r = self.precision(), self.recall()
        return 5 * p * r / (4 * p + r) if p + r else 0.0


def evaluate(redactor: Redactor, examples: Sequence[Example], *, use_contacts: bool) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    results = redactor.redact_many([(ex.text, ex.known_names if use_contacts else ()) for ex in examples])
    for ex, result in zip(examples, results, strict=True):
        predicted = [(s.start, s.end, s.entity_type) for s in result.spans]
        for start, end, kind in ex.spans:
            t = tallies.setdefault(kind, Tally())
            t.gold += 1
            covered = sum(max(0, min(end, pe) - max(start, ps)) for ps, pe, _ in predicted)
            t.caught += covered >= 0.9 * (end - start)
        for ps, pe, kind in predicted:
            t = tallies.setdefault(kind, Tally())
            t.predicted += 1
            t.right += any(ps < end and start < pe for start, end, _ in ex.spans)
    return dict(sorted(tallies.items()))


def table(results: dict[str, dict[str, Tally]]) -> str:
    lines = [
        "| set-up | entity | planted | recall | predicted | precision | F2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup, tallies in results.items():
        for kind, t in tallies.items():
            lines.append(
                f"| {setup} | {kind} | {t.gold} | {t.recall():.3f} | {t.predicted} | "
                f"{t.precision():.3f} | {t.f2():.3f} |"
            )
    return "\n".join(lines)


def run(n: int, seed: int, redactor_factory: Callable[[], Redactor] = PresidioRedactor.from_file) -> str:
    redactor = redactor_factory()
    examples = generate(n, seed)
    return table(
        {
            "with contact list": evaluate(redactor, examples, use_contacts=True),
            "no contact list": evaluate(redactor, examples, use_contacts=False),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(run(args.n, args.seed))


if __name__ == "__main__":
    main()

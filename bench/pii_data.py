"""Real, human-labelled PII dev sets from ../shared/data/pii-dev, as file-source records.

Read in place (never copied into the repo). Each set becomes raw records the file source accepts
plus, per record, the labelled values and the tokens nobody labelled (for over-redaction):
- customer chats (MultiDoGO dev splits): one transcript per conversation, one customer turn per
  utterance, in order;
- social text (WNUT-17 dev): one note per sentence, tokens joined by spaces;
- template sentences (presidio-research synth_dataset_v2): one note per sentence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pii_dev_root() -> Path:
    return Path(os.environ.get("CRM_RAG_PII_DEV", ROOT.parent / "shared" / "data" / "pii-dev"))


# MultiDoGO slot -> the type we report (the rest of its slots are not personal data)
CHAT_TYPES = {
    "name": "name",
    "ssn": "ssn",
    "phonenumber": "phone",
    "phone_number": "phone",
    "email_address": "email",
    "card_number": "card",
    "account_number": "account",
    "address": "address",
    "current_zipcode": "zip",
    "password": "password",
    "username": "username",
}
# labelled, but business identifiers: neither scored for recall nor counted as over-redaction
CHAT_NEUTRAL = {"booking_confirmation_number", "claimid", "policyid"}
# presidio-research types we claim to redact; the rest (GPE, ORGANIZATION, TITLE ...) are context
SYNTH_CLAIMED = {
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "ZIP_CODE",
}


@dataclass
class Labelled:
    """One record and what the humans marked in it."""

    set_name: str
    record: dict[str, object]
    values: list[tuple[str, str]] = field(default_factory=list)  # (type, value as written)
    # unlabelled tokens as (line index, start, end) in the record's rendered body lines
    plain: list[tuple[int, int, int]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the text lines the tokens sit in


def _base(set_name: str, record_id: str, record_type: str) -> dict[str, object]:
    return {
        "record_id": record_id,
        "record_type": record_type,
        "tenant_id": "piieval",
        "url": f"https://crm.example/{set_name}/{record_id}",
        "version": "1",
        "updated_at": "2026-11-01T00:00:00+00:00",
        "owner_id": "u-eval",
        "consent": {"assistant_use": "granted"},
    }


def _token_spans(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    for tok in text.split(" "):
        if tok:
            yield pos, pos + len(tok)
        pos += len(tok) + 1


def _runs(tokens: list[str], labels: list[str]) -> Iterator[tuple[str, int, int]]:
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and labels[j] == labels[i]:
            j += 1
        yield labels[i], i, j
        i = j


def customer_chats(root: Path | None = None, limit: int | None = None) -> list[Labelled]:
    base = (root or pii_dev_root()) / "multidogo" / "data" / "paper_splits"
    convs: dict[str, list[tuple[float, list[str], list[str]]]] = {}
    for path in sorted(base.glob("splits_annotated_at_turn_level/*/dev.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) != 6:
                continue
            tokens, labels = parts[3].split(), parts[4].split()
            try:
                turn_no = float(parts[1])  # finance writes "4.0"
            except ValueError:
                continue
            if not tokens or len(tokens) != len(labels):
                continue
            convs.setdefault(f"{path.parent.name}-{parts[0]}", []).append((turn_no, tokens, labels))
    out: list[Labelled] = []
    for conv_id, turns in convs.items():
        turns.sort(key=lambda t: t[0])
        rec = _base("chats", conv_id, "transcript")
        rec["title"] = ""
        rec["turns"] = [
            {"speaker_id": "customer", "role": "customer", "text": " ".join(tokens)} for _, tokens, _ in turns
        ]
        item = Labelled("customer chats", rec)
        for idx, (_, tokens, labels) in enumerate(turns):
            line = " ".join(tokens)
            item.lines.append(line)
            spans = list(_token_spans(line))
            for label, i, j in _runs(tokens, labels):
                if label in CHAT_TYPES:
                    item.values.append((CHAT_TYPES[label], " ".join(tokens[i:j])))
                elif label == "O":
                    item.plain.extend((idx, *spans[k]) for k in range(i, j))
        out.append(item)
        if limit and len(out) >= limit:
            break
    return out


def social_text(root: Path | None = None, limit: int | None = None) -> list[Labelled]:
    path = (root or pii_dev_root()) / "wnut17" / "emerging.dev.conll"
    out: list[Labelled] = []
    sentence: list[tuple[str, str]] = []

    def flush() -> None:
        if not sentence:
            return
        tokens = [t for t, _ in sentence]
        labels = [lab.split("-", 1)[-1] if lab != "O" else "O" for _, lab in sentence]
        # B- starts a new value even when the previous token has the same type
        starts = [lab.startswith("B-") for _, lab in sentence]
        line = " ".join(tokens)
        rec = _base("social", f"wnut-{len(out):05d}", "note")
        rec["body"] = line
        item = Labelled("social text", rec, lines=[line])
        spans = list(_token_spans(line))
        i = 0
        while i < len(tokens):
            j = i + 1
            while j < len(tokens) and labels[j] == labels[i] and not starts[j] and labels[i] != "O":
                j += 1
            if labels[i] == "person":
                item.values.append(("person", " ".join(tokens[i:j])))
            elif labels[i] == "O":
                item.plain.append((0, *spans[i]))
            i = j
        out.append(item)
        sentence.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            if limit and len(out) >= limit:
                return out
            continue
        token, _, label = line.partition("\t")
        if token.strip():
            sentence.append((token.strip(), label.strip() or "O"))
    flush()
    return out


def template_sentences(root: Path | None = None, limit: int | None = None) -> list[Labelled]:
    path = (root or pii_dev_root()) / "presidio-synth" / "synth_dataset_v2.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Labelled] = []
    for n, row in enumerate(data):
        text: str = row["full_text"]
        if not text.strip():
            continue
        rec = _base("templates", f"synth-{n:05d}", "note")
        rec["body"] = text
        item = Labelled("template sentences", rec, lines=[text])
        covered = [(s["start_position"], s["end_position"]) for s in row["spans"]]
        for s in row["spans"]:
            if s["entity_type"] in SYNTH_CLAIMED:
                item.values.append((s["entity_type"], s["entity_value"]))
        for start, end in _word_spans(text):
            if not any(a < end and start < b for a, b in covered):
                item.plain.append((0, start, end))
        out.append(item)
        if limit and len(out) >= limit:
            break
    return out


def _word_spans(text: str) -> Iterator[tuple[int, int]]:
    start = None
    for i, ch in enumerate(text + " "):
        if ch.isspace():
            if start is not None:
                yield start, i
                start = None
        elif start is None:
            start = i


SETS = {
    "customer chats": customer_chats,
    "social text": social_text,
    "template sentences": template_sentences,
}

"""Render a record into the text that is redacted, chunked and embedded. Pure.

Transcripts become one line per speaker turn with a pseudonymous label ("S2 customer:"), so
speaker names never enter the text; names inside what was said are redacted later.
"""

from __future__ import annotations

from ingest.models import SourceRecord


def speaker_labels(record: SourceRecord) -> dict[str, str]:
    labels: dict[str, str] = {}
    for turn in record.turns:
        if turn.speaker_id not in labels:
            labels[turn.speaker_id] = f"S{len(labels) + 1}"
    return labels


def render_text(record: SourceRecord) -> str:
    head = record.title.strip()
    if record.record_type == "transcript":
        labels = speaker_labels(record)
        lines = [f"{labels[t.speaker_id]} {t.role}: {' '.join(t.text.split())}" for t in record.turns]
        body = "\n".join(lines)
    else:
        body = record.body.strip()
    return f"{head}\n\n{body}" if head else body


def known_identifiers(record: SourceRecord) -> list[str]:
    """What the CRM itself knows about the people in this record: every identifier of its
    contacts (names, e-mails, phones, usernames, account ids) and the transcript speakers' names."""
    known = {value for c in record.contacts for value in c.known}
    known.update(t.speaker_name for t in record.turns if t.speaker_name)
    return sorted(known)

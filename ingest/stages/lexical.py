"""Lexical (BM25-style) vectors beside the dense ones.

Tokenizing, stop words and Snowball stemming come from qdrant-edge's `Bm25` model, the same
tokenizer Qdrant's server-side BM25 uses; documents get BM25 term-frequency weights (k, b, avg_len)
and queries weight each distinct token 1. IDF is applied by the index engine through the sparse
vector's `idf` modifier (both engines), so it follows the collection as it changes and needs no
corpus statistics here. Computed client-side for both engines: the same tokens everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import qdrant_edge as qe

from ingest.config import LexicalConfig
from ingest.index.base import SparseVector


class LexicalEncoder(Protocol):
    @property
    def signature(self) -> str:
        """Changes whenever the vectors of the same text could change (part of the fingerprint)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def embed_query(self, text: str) -> SparseVector: ...


def _sparse(vector: qe.SparseVector) -> SparseVector:
    return SparseVector(indices=tuple(vector.indices), values=tuple(vector.values))


class Bm25Encoder:
    def __init__(self, config: LexicalConfig) -> None:
        self._config = config
        self._model = qe.Bm25(
            qe.Bm25Config(k=config.k, b=config.b, avg_len=config.avg_len, language=config.language)
        )

    @property
    def signature(self) -> str:
        c = self._config
        return f"bm25:{c.language}:k{c.k}:b{c.b}:len{c.avg_len}:v1"

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [_sparse(self._model.embed_document(text)) for text in texts]

    def embed_query(self, text: str) -> SparseVector:
        return _sparse(self._model.embed_query(text))


def make_lexical(config: LexicalConfig) -> LexicalEncoder | None:
    return Bm25Encoder(config) if config.enabled else None

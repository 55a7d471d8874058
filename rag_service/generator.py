"""Answer generators: a Protocol and its one implementation, an OpenAI-compatible chat endpoint
reached with httpx. Network I/O happens here only; every failure becomes GenerationFailed with a
reason that names the kind of failure, never the prompt or the reply."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from rag_service.config import GeneratorConfig


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user"]
    content: str


class GenerationFailed(Exception):
    """The generator gave no usable text; `reason` is safe to return and log (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Generator(Protocol):
    @property
    def model_id(self) -> str: ...

    def generate(self, messages: Sequence[ChatMessage]) -> str:
        """The reply text; raise GenerationFailed on timeouts, errors and unusable replies."""
        ...

    def close(self) -> None: ...


class OpenAIChatGenerator:
    """POST {base_url}/chat/completions with {model, messages, temperature, max_tokens}; the reply
    is choices[0].message.content. `transport` is for tests (httpx.MockTransport)."""

    def __init__(self, cfg: GeneratorConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self._cfg = cfg
        headers = {"content-type": "application/json"}
        if cfg.api_key is not None:
            headers["authorization"] = f"Bearer {cfg.api_key.get_secret_value()}"
        self._client = httpx.Client(
            base_url=cfg.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(cfg.timeout_seconds, connect=cfg.connect_timeout_seconds),
            transport=transport,
            follow_redirects=False,  # a redirect could carry the prompt somewhere else
            trust_env=False,  # no proxy from the environment: prompts go where the config says
        )

    @property
    def model_id(self) -> str:
        return self._cfg.model

    def generate(self, messages: Sequence[ChatMessage]) -> str:
        body = {
            "model": self._cfg.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self._cfg.temperature,
            "max_tokens": self._cfg.max_tokens,
            "stream": False,
        }
        deadline = time.monotonic() + self._cfg.timeout_seconds
        try:
            with self._client.stream("POST", "chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    raise GenerationFailed(f"generator answered HTTP {resp.status_code}")
                chunks: list[bytes] = []
                for part in resp.iter_bytes():  # a server dripping bytes cannot outlast the deadline
                    chunks.append(part)
                    if time.monotonic() > deadline:
                        raise GenerationFailed(f"generator timed out after {self._cfg.timeout_seconds:g} s")
                raw = b"".join(chunks)
        except httpx.TimeoutException:
            raise GenerationFailed(f"generator timed out after {self._cfg.timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise GenerationFailed(f"generator unreachable ({type(exc).__name__})") from None
        return _reply_text(raw)

    def close(self) -> None:
        self._client.close()


def _reply_text(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GenerationFailed("generator reply is not an OpenAI chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise GenerationFailed("generator reply has no text")
    return content


def build_generator(cfg: GeneratorConfig) -> Generator | None:
    return OpenAIChatGenerator(cfg) if cfg.enabled else None

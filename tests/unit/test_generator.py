"""The OpenAI-compatible client, faked at the process boundary with httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from rag_service.config import GeneratorConfig, Settings
from rag_service.generator import ChatMessage, GenerationFailed, OpenAIChatGenerator

MESSAGES = [ChatMessage("system", "rules"), ChatMessage("user", "Sources: [1] text\n\nQuestion: q")]


def config(**extra: object) -> GeneratorConfig:
    base: dict[str, object] = {"enabled": True, "base_url": "https://llm.example/v1", "model": "m-1"}
    return GeneratorConfig.model_validate(base | extra)


def completion(content: object) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def client(handler: Callable[[httpx.Request], httpx.Response], **extra: object) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(config(**extra), transport=httpx.MockTransport(handler))


def test_a_completion_is_read_and_the_request_is_openai_shaped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=completion("Answer [1]."))

    gen = client(handler, api_key="sk-test", temperature=0.0, max_tokens=99)
    assert gen.generate(MESSAGES) == "Answer [1]."
    [req] = seen
    assert str(req.url) == "https://llm.example/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test"
    body = json.loads(req.content)
    assert body["model"] == "m-1" and body["max_tokens"] == 99 and body["stream"] is False
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(500, content=b"internal error with a prompt echo"), "generator answered HTTP 500"),
        (httpx.Response(429, content=b"slow down"), "generator answered HTTP 429"),
        (
            httpx.Response(302, headers={"location": "https://elsewhere.example/"}),
            "generator answered HTTP 302",
        ),
        (
            httpx.Response(200, content=b"<html>not json</html>"),
            "generator reply is not an OpenAI chat completion",
        ),
        (httpx.Response(200, content=b'{"choices": []}'), "generator reply is not an OpenAI chat completion"),
        (httpx.Response(200, content=completion(None)), "generator reply has no text"),
        (httpx.Response(200, content=completion("   ")), "generator reply has no text"),
    ],
)
def test_errors_and_garbage_become_a_reason_without_content(response: httpx.Response, reason: str) -> None:
    gen = client(lambda _: response)
    with pytest.raises(GenerationFailed) as err:
        gen.generate(MESSAGES)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout("read"), "generator timed out after 20 s"),
        (httpx.ConnectTimeout("connect"), "generator timed out after 20 s"),
        (httpx.ConnectError("refused"), "generator unreachable (ConnectError)"),
    ],
)
def test_transport_failures_become_a_reason(exc: Exception, reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(GenerationFailed) as err:
        client(handler).generate(MESSAGES)
    assert err.value.reason == reason


def test_the_api_key_is_a_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_KEY", "sk-from-env")
    cfg = config(api_key_env="LLM_KEY")
    assert isinstance(cfg.api_key, SecretStr) and cfg.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(cfg) and "sk-from-env" not in cfg.model_dump_json()


@pytest.mark.parametrize(
    ("generator", "environment", "ok"),
    [
        ({}, "production", True),  # off by default
        ({"enabled": True}, "dev", False),  # needs base_url and model
        ({"enabled": True, "base_url": "llm.example/v1", "model": "m"}, "dev", False),
        ({"enabled": True, "base_url": "http://llm.example/v1", "model": "m"}, "dev", True),
        ({"enabled": True, "base_url": "http://llm.example/v1", "model": "m"}, "production", False),
        ({"enabled": True, "base_url": "http://127.0.0.1:8080/v1", "model": "m"}, "production", True),
        ({"enabled": True, "base_url": "https://llm.example/v1", "model": "m"}, "production", True),
    ],
)
def test_generator_settings_are_validated(generator: dict[str, object], environment: str, ok: bool) -> None:
    keys = [{"name": "a", "sha256": "ab" * 32, "role": "assistant", "tenants": ["*"]}]
    data = {"environment": environment, "generator": generator, "auth": {"keys": keys}}
    if ok:
        assert Settings.model_validate(data).generator.enabled is bool(generator.get("enabled"))
    else:
        with pytest.raises(ValidationError):
            Settings.model_validate(data)


def test_check_config_names_the_generator_without_its_secrets() -> None:
    from rag_service.status import config_summary

    settings = Settings.model_validate(
        {
            "generator": {
                "enabled": True,
                "base_url": "https://user:pw-secret@llm.example:8443/v1?api-key=q-secret",
                "model": "m-1",
                "api_key": "sk-secret",
            }
        }
    )
    summary = config_summary(settings)
    assert summary["generator"] == {
        "base_url": "https://llm.example:8443/v1",
        "model": "m-1",
        "api_key": True,
    }
    assert "secret" not in json.dumps(summary)
    assert config_summary(Settings())["generator"] is None

"""Traceable answers on the ingested demo set: extractive quotes whose offsets round-trip through
GET /audit/chunks, context for frontends, and a generator (a local fake chat server on
127.0.0.1) whose citations are verified, with its failures falling back to the extractive answer."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag_service.answer import sentence_spans
from rag_service.app import create_app
from rag_service.config import GeneratorConfig
from rag_service.generator import OpenAIChatGenerator
from rag_service.services import Services
from tests.conftest import headers
from tests.fakes.chat import FakeChat, completion, prompt_sources
from tests.integration.demo_queries import purpose_for, raw_record

UNSUPPORTED = "The customer also asked for a 20% discount on the enterprise plan."


def canary_body(truth: dict[str, Any], i: int = 0, **extra: Any) -> dict[str, Any]:
    canary = truth["canaries"][i]
    raw = raw_record(canary["tenant_id"], canary["record_id"])
    return {
        "question": canary["question"],
        "tenant_id": canary["tenant_id"],
        "purpose": purpose_for(raw["consent"]),
        "user": {"user_id": raw["owner_id"], "team_ids": raw["team_ids"]},
        **extra,
    }


def stored_text(client: TestClient, chunk_id: str) -> dict[str, Any]:
    resp = client.get(f"/audit/chunks/{chunk_id}", headers=headers("auditor"))
    assert resp.status_code == 200, resp.text
    payload: dict[str, Any] = resp.json()["payload"]
    return payload


def assert_round_trip(client: TestClient, data: dict[str, Any], spans: list[dict[str, Any]]) -> None:
    """Each span cites a retrieved source, and its offsets cut its words out of the stored text."""
    for span in spans:
        source = data["sources"][span["n"] - 1]
        assert span["chunk_id"] == source["chunk_id"]
        assert (span["record_version"], span["content_hash"]) == (
            source["record_version"],
            source["content_hash"],
        )
        payload = stored_text(client, span["chunk_id"])
        assert payload["text"][span["start"] : span["end"]] == span["text"]
        assert (payload["record_version"], payload["content_hash"]) == (
            span["record_version"],
            span["content_hash"],
        )


def first_sentence(text: str) -> str:
    return max((text[s:e] for s, e in sentence_spans(text)), key=lambda s: len(s.split()))


# ---- extractive answers and context ------------------------------------------------------------


def test_extractive_quotes_round_trip_through_the_audit_endpoint(
    client: TestClient, truth: dict[str, Any]
) -> None:
    for i in range(len(truth["canaries"])):
        resp = client.post("/query", json=canary_body(truth, i), headers=headers("assistant"))
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert data["answer_mode"] == "extractive" and data["generation"] is None
        quotes = data["quotes"]
        assert quotes and quotes[0]["n"] == 1, "the best-ranked source is quoted first"
        assert data["answer"] == " ".join(f"{q['text']} [{q['n']}]" for q in quotes)
        assert_round_trip(client, data, quotes)
        verdicts = client.post(
            "/audit/citations/verify", json={"citations": quotes}, headers=headers("auditor")
        ).json()
        assert [v["status"] for v in verdicts] == ["verified"] * len(quotes)


def test_context_holds_ranked_stored_chunks_within_the_budget(
    client: TestClient, truth: dict[str, Any], demo_services: Services
) -> None:
    body = canary_body(truth, top_k=8, context_token_budget=300)
    data = client.post("/query", json=body, headers=headers("assistant")).json()
    context = data["context"]
    chunks = context["chunks"]
    assert chunks and context["tokens"] == sum(c["tokens"] for c in chunks) <= 300
    assert [c["n"] for c in chunks] == sorted(c["n"] for c in chunks)
    assert context["left_out"] == len(data["sources"]) - len(chunks)
    for c in chunks:
        assert c["chunk_id"] == data["sources"][c["n"] - 1]["chunk_id"]
        assert c["text"] == stored_text(client, c["chunk_id"])["text"]
        assert c["tokens"] == demo_services.chunker.count_tokens(c["text"])
    # the same filters: a user outside the record's ACL gets no context either
    stranger = body | {"user": {"user_id": "stranger", "team_ids": ["team-x"]}}
    other = client.post("/query", json=stranger, headers=headers("assistant")).json()
    assert other["context"]["chunks"] == [] or not (
        {c["chunk_id"] for c in other["context"]["chunks"]} & {c["chunk_id"] for c in chunks}
    )
    assert (
        client.post("/query", json=canary_body(truth), headers=headers("assistant")).json()["context"] is None
    )
    too_big = canary_body(truth, context_token_budget=demo_services.settings.api.max_context_tokens + 1)
    assert client.post("/query", json=too_big, headers=headers("assistant")).status_code == 422


def test_generate_without_a_configured_generator_is_refused(
    client: TestClient, truth: dict[str, Any]
) -> None:
    resp = client.post("/query", json=canary_body(truth, generate=True), headers=headers("assistant"))
    assert resp.status_code == 422 and "no generator is configured" in resp.text


# ---- generated answers (fake chat server on 127.0.0.1) ----------------------------------------


@pytest.fixture(scope="module")
def chat() -> Iterator[FakeChat]:
    fake = FakeChat()
    with fake.running():
        yield fake


@pytest.fixture(scope="module")
def gen_client(demo_services: Services, chat: FakeChat) -> Iterator[TestClient]:
    cfg = GeneratorConfig(
        enabled=True, base_url=chat.url, model="fake-chat", api_key=SecretStr("sk-test"), timeout_seconds=1.0
    )
    settings = demo_services.settings.model_copy(update={"generator": cfg})
    generator = OpenAIChatGenerator(cfg)
    services = dataclasses.replace(demo_services, settings=settings, generator=generator)
    with TestClient(create_app(settings, services=services, start_scheduler=False)) as c:
        yield c
    generator.close()


def ask(gen_client: TestClient, truth: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resp = gen_client.post("/query", json=canary_body(truth, **extra), headers=headers("assistant"))
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_a_supported_generated_answer_cites_verified_spans(
    gen_client: TestClient, chat: FakeChat, truth: dict[str, Any]
) -> None:
    chat.reply = lambda body: (200, completion(f"{first_sentence(prompt_sources(body)[1])} [1]"), 0.0)
    data = ask(gen_client, truth)
    assert data["answer_mode"] == "generated" and data["quotes"] == []
    assert data["generation"]["status"] == "generated" and data["generation"]["model"] == "fake-chat"
    [claim] = data["claims"]
    assert claim["supported"] and [c["n"] for c in claim["citations"]] == [1]
    assert data["answer"] == f"{claim['text']} [1]"
    assert_round_trip(gen_client, data, claim["citations"])
    # an auditor re-checks it later from what the answer returned
    check = {"citations": claim["citations"], "claim": claim["text"]}
    [verdict] = gen_client.post("/audit/citations/verify", json=check, headers=headers("auditor")).json()
    assert verdict["status"] == "verified" and verdict["supports"] is True
    assert chat.headers[-1]["authorization"] == "Bearer sk-test"
    assert 'crm_rag_answers_total{generation="generated",mode="generated"}' in gen_client.get("/metrics").text


def test_unsupported_and_unretrieved_citations_are_never_returned_as_cited(
    gen_client: TestClient, chat: FakeChat, truth: dict[str, Any]
) -> None:
    def reply(body: dict[str, Any]) -> tuple[int, bytes, float]:
        sources = prompt_sources(body)
        good = first_sentence(sources[1])
        last = max(sources)
        return 200, completion(f"{good} [1][{last}] {UNSUPPORTED} [1] {good} [42]"), 0.0

    chat.reply = reply
    data = ask(gen_client, truth)
    assert data["answer_mode"] == "generated"
    claims = data["claims"]
    assert [c["supported"] for c in claims] == [True, False, False]
    assert [c["n"] for c in claims[0]["citations"]] == [1], claims[0]["reason"]
    assert "does not support it" in claims[0]["reason"]  # the last source was cited wrongly
    assert claims[1]["citations"] == [] and "does not support it" in claims[1]["reason"]
    assert claims[2]["citations"] == [] and "[42] is not a retrieved source" in claims[2]["reason"]
    assert UNSUPPORTED not in data["answer"] and data["answer"].count("[") == 1
    assert data["generation"] | {"took_ms": 0} == {
        "status": "generated",
        "reason": None,
        "model": "fake-chat",
        "claims": 3,
        "supported": 1,
        "dropped": 0,
        "took_ms": 0,
    }


def test_an_answer_with_no_supported_sentence_falls_back(
    gen_client: TestClient, chat: FakeChat, truth: dict[str, Any]
) -> None:
    chat.reply = lambda body: (200, completion(f"{UNSUPPORTED} [1] It was agreed on a call [99]."), 0.0)
    data = ask(gen_client, truth)
    assert data["answer_mode"] == "extractive" and data["quotes"] and data["claims"] == []
    assert data["generation"]["status"] == "fallback"
    assert (
        data["generation"]["reason"]
        == "no sentence of the generated answer is supported by a source it cites"
    )
    assert UNSUPPORTED not in data["answer"]


@pytest.mark.parametrize(
    ("status", "content", "delay", "reason"),
    [
        (200, completion("too late [1]"), 2.5, "generator timed out after 1 s"),
        (500, b'{"error": "boom"}', 0.0, "generator answered HTTP 500"),
        (200, b"<html>gateway page</html>", 0.0, "generator reply is not an OpenAI chat completion"),
        (200, completion(""), 0.0, "generator reply has no text"),
    ],
)
def test_generator_failures_fall_back_to_the_extractive_answer(
    gen_client: TestClient,
    chat: FakeChat,
    truth: dict[str, Any],
    status: int,
    content: bytes,
    delay: float,
    reason: str,
) -> None:
    chat.reply = lambda body: (status, content, delay)
    data = ask(gen_client, truth)
    assert data["answer_mode"] == "extractive" and data["generation"]["reason"] == reason
    assert data["generation"]["status"] == "fallback" and data["generation"]["took_ms"] < 2_000
    assert data["quotes"] and data["answer"].startswith(data["quotes"][0]["text"])
    assert_round_trip(gen_client, data, data["quotes"])


def test_generate_false_answers_extractively_without_calling_the_generator(
    gen_client: TestClient, chat: FakeChat, truth: dict[str, Any]
) -> None:
    before = len(chat.requests)
    data = ask(gen_client, truth, generate=False)
    assert data["answer_mode"] == "extractive" and data["generation"] is None
    assert len(chat.requests) == before


def test_the_prompt_holds_only_redacted_text(
    gen_client: TestClient, chat: FakeChat, truth: dict[str, Any], demo_services: Services
) -> None:
    chat.reply = lambda body: (200, completion("Nothing here [1]."), 0.0)
    canary = truth["canaries"][0]
    pii = [v for key, r in truth["records"].items() if key.startswith(canary["tenant_id"]) for v in r["pii"]]
    email = next(v for v in pii if "@" in v)
    body = canary_body(truth, question=f"{canary['question']} Was it {email}?", top_k=10)
    data = gen_client.post("/query", json=body, headers=headers("assistant")).json()
    sent = chat.requests[-1]
    user = next(m["content"] for m in sent["messages"] if m["role"] == "user")
    assert email not in user and "<EMAIL_ADDRESS>" in user.rsplit("Question: ", 1)[1]
    offered = prompt_sources(sent)
    assert offered and set(offered) <= {s["n"] for s in data["sources"]}
    for n, text in offered.items():
        assert text == stored_text(gen_client, data["sources"][n - 1]["chunk_id"])["text"]
    question = demo_services.redactor.redact(body["question"], tenant=canary["tenant_id"]).text
    sources = "\n\n".join(f"[{n}] {text}" for n, text in offered.items())
    assert user == f"Sources:\n\n{sources}\n\nQuestion: {question}"  # nothing else goes out
    stored = " ".join(offered.values())
    leaked = [v for v in pii if v in user and v not in stored]
    assert not leaked, f"{len(leaked)} PII value(s) of the question reached the generator"


def test_queries_write_no_content_to_the_audit_log_or_logs(
    gen_client: TestClient,
    chat: FakeChat,
    truth: dict[str, Any],
    demo_services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    replies: list[str] = []

    def reply(body: dict[str, Any]) -> tuple[int, bytes, float]:
        replies.append(f"{first_sentence(prompt_sources(body)[1])} [1] {UNSUPPORTED} [2]")
        return 200, completion(replies[-1]), 0.0

    chat.reply = reply
    events = demo_services.state.list_audit(limit=1000)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for i in range(len(truth["canaries"])):
            data = ask(gen_client, truth, i=i, context_token_budget=500)
            texts += [c["text"] for c in data["context"]["chunks"]] + [c["text"] for c in data["claims"]]
            data = ask(gen_client, truth, i=i, generate=False)
            texts += [q["text"] for q in data["quotes"]]
    assert demo_services.state.list_audit(limit=1000) == events  # queries append nothing
    logged = json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)
    assert any(r.name == "rag_service.generation" for r in caplog.records)
    snippets = {t[:40] for t in texts + replies if len(t) >= 40}
    assert snippets and not [s for s in snippets if s in logged]

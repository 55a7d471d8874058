"""A generated answer: prompt from the redacted chunks, the generator's reply, every sentence's
citations verified. Returns what /query shows, or a fallback reason (the caller then answers
extractively). Nothing here logs or returns prompt or reply text except verified claims."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag_service.config import GeneratorConfig
from rag_service.context import fit_budget
from rag_service.generator import ChatMessage, GenerationFailed, Generator
from rag_service.grounding import Embed, ground, split_claims
from rag_service.schemas import Citation, Claim, Generation, Source, chunk_ref

log = logging.getLogger("rag_service.generation")

SYSTEM_PROMPT = (
    "You answer questions for a CRM assistant. Use only the numbered sources below; they are CRM "
    "records with personal data replaced by markers such as <PERSON> or <EMAIL_ADDRESS>: never "
    "guess what a marker hides. Write a few plain sentences, no lists or headings. End every "
    "sentence with the number of each source that states it, e.g. [1] or [2][3]. If the sources "
    "do not answer the question, say so in one sentence without a citation."
)


def build_prompt(question: str, chunks: Sequence[tuple[int, str]]) -> list[ChatMessage]:
    """`question` already redacted; `chunks` (source number, stored redacted text)."""
    sources = "\n\n".join(f"[{n}] {text}" for n, text in chunks)
    return [
        ChatMessage("system", SYSTEM_PROMPT),
        ChatMessage("user", f"Sources:\n\n{sources}\n\nQuestion: {question}"),
    ]


@dataclass(frozen=True, slots=True)
class Generated:
    answer: str  # supported claims only, each followed by its verified citations
    claims: list[Claim]
    info: Generation


def generate_answer(
    generator: Generator,
    cfg: GeneratorConfig,
    question: str,
    sources: Sequence[tuple[Source, str]],
    *,
    embed: Embed,
    count_tokens: Callable[[str], int],
) -> Generated:
    """`question` already redacted; `sources` the relevant retrieved chunks, best first. On any
    failure `answer` is empty and `info` says fallback and why."""
    started = time.perf_counter()
    offered, _ = fit_budget([(s.n, text) for s, text in sources], cfg.max_context_tokens, count_tokens)

    def fallback(reason: str, claims: int = 0) -> Generated:
        took = round((time.perf_counter() - started) * 1000, 2)
        log.warning("generated answer not used", extra={"reason": reason, "claims": claims})
        info = Generation(
            status="fallback", reason=reason, model=generator.model_id, claims=claims, took_ms=took
        )
        return Generated("", [], info)

    if not offered:
        return fallback("no source fits generator.max_context_tokens")
    try:
        reply = generator.generate(build_prompt(question, [(f.n, f.text) for f in offered]))
    except GenerationFailed as exc:
        return fallback(exc.reason)
    drafts = split_claims(reply)
    if not drafts:
        return fallback("generator reply has no sentence")
    offered_ns = {f.n for f in offered}
    by_n = {s.n: (s, text) for s, text in sources if s.n in offered_ns}  # what the prompt offered
    grounded = ground(drafts, {n: text for n, (_, text) in by_n.items()}, embed, cfg.grounding)
    claims: list[Claim] = []
    for g in grounded:
        citations = [
            Citation(
                **chunk_ref(by_n[n][0]),
                start=sup.start,
                end=sup.end,
                text=by_n[n][1][sup.start : sup.end],
                lexical=sup.lexical,
                cosine=sup.cosine,
            )
            for n, sup in g.supports
        ]
        claims.append(Claim(text=g.text, supported=bool(citations), citations=citations, reason=g.reason))
    supported = [c for c in claims if c.supported]
    if not supported:
        return fallback("no sentence of the generated answer is supported by a source it cites", len(claims))
    shown = claims if cfg.grounding.unsupported == "flag" else supported
    took = round((time.perf_counter() - started) * 1000, 2)
    info = Generation(
        status="generated",
        model=generator.model_id,
        claims=len(claims),
        supported=len(supported),
        dropped=len(claims) - len(shown),
        took_ms=took,
    )
    log.info(
        "generated answer",
        extra={"claims": len(claims), "supported": len(supported), "offered_chunks": len(offered)},
    )
    text = " ".join(f"{c.text} " + "".join(f"[{x.n}]" for x in c.citations) for c in supported)
    return Generated(text, shown, info)

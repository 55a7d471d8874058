"""Grounding of generated answers: split a reply into sentences with their `[n]` citations, and
check that each cited chunk supports its sentence (words, numbers, and cosine with the index's
embedding model). Pure apart from the `embed` callable passed in."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rag_service.answer import content_words, sentence_spans
from rag_service.config import GroundingConfig

Embed = Callable[[Sequence[str]], NDArray[np.float32]]

_MARKERS = r"(?:[ \t]*\[\d+(?:[ \t]*,[ \t]*\d+)*\])+"  # on the same line
_TRAILING = re.compile(rf"([.!?])({_MARKERS})")  # "claim. [1]" -> "claim [1]."
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


@dataclass(frozen=True, slots=True)
class Draft:
    """A sentence of the reply: its text without markers, and the source numbers it cites."""

    text: str
    cited: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Support:
    """How well one chunk supports one sentence; `start:end` is the chunk's best sentence."""

    ok: bool
    lexical: float
    cosine: float
    start: int
    end: int
    why: str | None  # when not ok: which test failed, with the scores (no content)


def split_claims(reply: str) -> list[Draft]:
    """Sentences of the reply with the markers inside or right after them. Pieces with fewer than
    two content words ("Sure!") are not claims; a stray marker joins the sentence before it."""
    text = _TRAILING.sub(lambda m: f"{m.group(2)}{m.group(1)}", reply)
    drafts: list[Draft] = []
    for start, end in sentence_spans(text):
        piece = _BULLET.sub("", text[start:end])
        cited = tuple(int(n) for group in _MARKER.findall(piece) for n in group.split(","))
        bare = " ".join(_MARKER.sub(" ", piece).split())
        bare = re.sub(r"\s+([.!?,;:])", r"\1", bare)
        if len(content_words(bare)) < 2:
            if cited and drafts:
                last = drafts[-1]
                drafts[-1] = Draft(last.text, tuple(dict.fromkeys(last.cited + cited)))
            continue
        drafts.append(Draft(bare, tuple(dict.fromkeys(cited))))
    return drafts


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    return {_stem(w) for w in content_words(text)}


def lexical_support(claim: str, chunk: str) -> float:
    wanted = stems(claim)
    return len(wanted & stems(chunk)) / max(1, len(wanted))


def missing_numbers(claim: str, chunk: str) -> list[str]:
    have = set(_NUMBER.findall(chunk))
    return [n for n in _NUMBER.findall(claim) if n not in have]


def _unit(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: NDArray[np.float32] = vectors / np.maximum(norms, 1e-12)
    return out


def check_support(pairs: Sequence[tuple[str, str]], embed: Embed, cfg: GroundingConfig) -> list[Support]:
    """One Support per (claim, chunk text) pair; all texts embedded in one call."""
    pieces: list[list[tuple[int, int]]] = [list(sentence_spans(chunk)) for _, chunk in pairs]
    claims = [claim for claim, _ in pairs]
    sentences = [chunk[s:e] for (_, chunk), spans in zip(pairs, pieces, strict=True) for s, e in spans]
    texts = list(dict.fromkeys(claims + sentences + [chunk for _, chunk in pairs]))
    index = {text: i for i, text in enumerate(texts)}
    vectors = _unit(embed(texts)) if texts else np.zeros((0, 1), dtype=np.float32)
    out: list[Support] = []
    for (claim, chunk), spans in zip(pairs, pieces, strict=True):
        c = vectors[index[claim]]
        scored = [(float(vectors[index[chunk[s:e]]] @ c), s, e) for s, e in spans]
        best_cos, start, end = max(scored, default=(-1.0, 0, len(chunk)))
        cosine = max(best_cos, float(vectors[index[chunk]] @ c))
        lexical = lexical_support(claim, chunk)
        missing = missing_numbers(claim, chunk)
        why = None
        if lexical < cfg.min_lexical:
            why = f"word overlap {lexical:.2f} < {cfg.min_lexical:.2f}"
        elif cosine < cfg.min_cosine:
            why = f"cosine {cosine:.2f} < {cfg.min_cosine:.2f}"
        elif missing:
            why = f"{len(missing)} number(s) not in the chunk"
        out.append(Support(why is None, round(lexical, 4), round(cosine, 4), start, end, why))
    return out


@dataclass(frozen=True, slots=True)
class Grounded:
    text: str
    supports: tuple[tuple[int, Support], ...]  # (n, support) of each citation that holds
    reason: str | None  # rejected citations, or why the sentence has none


def ground(
    drafts: Sequence[Draft], chunks: Mapping[int, str], embed: Embed, cfg: GroundingConfig
) -> list[Grounded]:
    """`chunks`: source number -> stored text of every chunk the prompt offered. A citation holds
    when it names one of them and that chunk supports the sentence."""
    pairs = [(d.text, chunks[n]) for d in drafts for n in d.cited if n in chunks]
    results = iter(check_support(pairs, embed, cfg))
    out: list[Grounded] = []
    for d in drafts:
        held: list[tuple[int, Support]] = []
        notes: list[str] = []
        if not d.cited:
            notes.append("no citation")
        for n in d.cited:
            if n not in chunks:
                notes.append(f"[{n}] is not a retrieved source")
                continue
            support = next(results)
            if support.ok:
                held.append((n, support))
            else:
                notes.append(f"[{n}] does not support it: {support.why}")
        out.append(Grounded(d.text, tuple(held), "; ".join(notes) or None))
    return out

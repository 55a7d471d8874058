"""Context for frontends: the ranked chunks' stored (redacted) texts within a token budget. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fitted:
    n: int
    text: str
    tokens: int


def fit_budget(
    ranked: Sequence[tuple[int, str]], budget: int, count_tokens: Callable[[str], int]
) -> tuple[list[Fitted], int]:
    """Chunks (source number, text) best first, whole, while they fit `budget` tokens; a chunk
    too large for what is left is skipped and a smaller later one may still fit (texts are never
    cut, so offsets into them stay valid). Returns the chunks kept and how many were left out."""
    kept: list[Fitted] = []
    used = 0
    for n, text in ranked:
        tokens = count_tokens(text)
        if used + tokens <= budget:
            kept.append(Fitted(n, text, tokens))
            used += tokens
    return kept, len(ranked) - len(kept)

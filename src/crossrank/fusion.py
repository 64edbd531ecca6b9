"""Fusing rankings from several retrievers, and diversifying a ranking (MMR)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # the constant of Cormack et al. (2009), also LangChain's EnsembleRetriever's


def reciprocal_rank(
    rankings: Mapping[str, Sequence[K]], weights: Mapping[str, float], k: int = RRF_K
) -> dict[K, float]:
    """Weighted reciprocal-rank fusion: ``sum(weight / (k + rank))`` over the rankings.

    ``rankings`` maps a retriever's name to its ids, best first (rank 1 is the first); an
    id found by several retrievers is counted once per retriever, never twice in one.
    Returns each id's fused score, best first (ties keep first-seen order).
    """
    fused: dict[K, float] = {}
    for name, ids in rankings.items():
        for rank, chunk_id in enumerate(dict.fromkeys(ids), 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weights[name] / (k + rank)
    return _best_first(fused)


def convex(
    scores: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]
) -> dict[str, float]:
    """Weighted sum of min-max normalized scores; an id a retriever did not find gets 0 there.

    Each retriever's scores are mapped to [0, 1] over the candidates it returned (all equal
    scores map to 1). Returns each id's fused score, best first.
    """
    fused: dict[str, float] = {}
    for name, found in scores.items():
        if not found:
            continue
        low, high = min(found.values()), max(found.values())
        for chunk_id, score in found.items():
            normalized = (score - low) / (high - low) if high > low else 1.0
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weights[name] * normalized
    return _best_first(fused)


def mmr(relevance: np.ndarray, candidates: np.ndarray, k: int, lambda_mult: float) -> list[int]:
    """Maximal marginal relevance: pick ``k`` of the candidates, relevant but not redundant.

    Each pick maximizes ``lambda_mult * relevance[c] - (1 - lambda_mult) * max sim(c,
    picked)``, where ``sim`` is the dot product of rows of ``candidates`` (unit vectors): 1
    is pure relevance, 0 pure diversity (langchain-chroma's definition, where relevance is
    the cosine similarity to the query). Returns indices in the order picked.
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"the MMR lambda must be in [0, 1], got {lambda_mult}")
    if len(candidates) == 0:
        return []
    similarity = candidates @ candidates.T
    picked = [int(np.argmax(relevance))]
    redundancy = similarity[picked[0]].copy()
    while len(picked) < min(k, len(candidates)):
        value = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        value[picked] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        redundancy = np.maximum(redundancy, similarity[best])
    return picked


def _best_first(fused: dict[K, float]) -> dict[K, float]:
    order = sorted(fused, key=lambda chunk_id: -fused[chunk_id])
    return {chunk_id: fused[chunk_id] for chunk_id in order}

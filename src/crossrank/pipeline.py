"""Retrieve (dense, BM25 or hybrid; optionally diversified) then rerank, in one call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from . import fusion
from .hit import Hit
from .reranker import Reranker, check_cutoffs
from .store import Store

RETRIEVALS = ("dense", "bm25", "hybrid")
FUSIONS = ("rrf", "convex")
# Chosen on one half of the dev set's queries, reported on the other (README, "Hybrid").
DEFAULT_RETRIEVAL = "hybrid"
DEFAULT_FUSION = "convex"
DEFAULT_WEIGHTS = {"dense": 0.9, "bm25": 0.1}


class Pipeline:
    """Two-stage retrieval: ``fetch_k`` candidates from the store, reranked, best ``top_n`` kept.

    Args:
        store: Where candidates come from.
        reranker: The cross-encoder; None switches reranking off (retrieval order).
        fetch_k: Candidates retrieved for the reranker.
        top_n: Hits returned.
        threshold: Drop reranked hits scoring below this value in [0, 1].
        retrieval: ``"dense"`` (bi-encoder), ``"bm25"`` (keywords) or ``"hybrid"`` (both,
            fused; each hit keeps both scores in ``hit.scores``; the default).
        fusion: How hybrid fuses: ``"convex"`` (weighted sum of min-max normalized scores,
            the default) or ``"rrf"`` (weighted reciprocal rank).
        weights: Weight of each retriever in hybrid fusion; the default
            ``{"dense": 0.9, "bm25": 0.1}`` was chosen on half of the dev set's queries.
        mmr: Diversify the candidates by maximal marginal relevance with this lambda
            (1 = relevance only, 0 = diversity only): ``2 * fetch_k`` are retrieved and
            ``fetch_k`` picked; None (default) keeps them as retrieved.

    Example:
        >>> pipeline = Pipeline(Store(), Reranker("path/to/cross-encoder"), retrieval="hybrid")
        >>> for hit in pipeline.search("how do I install it?"):
        ...     print(hit.rerank_score, hit.scores, hit.text[:60])
    """

    def __init__(
        self,
        store: Store,
        reranker: Reranker | None = None,
        *,
        fetch_k: int = 50,
        top_n: int = 5,
        threshold: float | None = None,
        retrieval: str = DEFAULT_RETRIEVAL,
        fusion: str = DEFAULT_FUSION,
        weights: Mapping[str, float] | None = None,
        mmr: float | None = None,
    ) -> None:
        check_cutoffs(top_n, threshold)
        if fetch_k < 1:
            raise ValueError(f"fetch_k must be at least 1, got {fetch_k}")
        if retrieval not in RETRIEVALS:
            raise ValueError(f"retrieval must be one of {', '.join(RETRIEVALS)}; got {retrieval!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}; got {fusion!r}")
        weights = dict(weights or DEFAULT_WEIGHTS)
        if set(weights) != {"dense", "bm25"} or min(weights.values()) < 0:
            raise ValueError(f"weights must give dense and bm25 each a weight >= 0; got {weights}")
        if mmr is not None and not 0.0 <= mmr <= 1.0:
            raise ValueError(f"mmr (the MMR lambda) must be in [0, 1], got {mmr}")
        self.store = store
        self.reranker = reranker
        self.fetch_k = fetch_k
        self.top_n = top_n
        self.threshold = threshold
        self.retrieval = retrieval
        self.fusion = fusion
        self.weights = weights
        self.mmr = mmr

    def search(
        self,
        query: str,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The best ``top_n`` hits for ``query``: reranked when a reranker is set."""
        if self.reranker is None:
            return self.retrieve(query, self.top_n, where=where, where_document=where_document)
        candidates = self.retrieve(
            query, max(self.fetch_k, self.top_n), where=where, where_document=where_document
        )
        return self.reranker.rerank(query, candidates, top_n=self.top_n, threshold=self.threshold)

    def retrieve(
        self,
        query: str,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The first stage alone: ``k`` candidates by this pipeline's retrieval, best first."""
        depth = 2 * k if self.mmr is not None else k
        filters = {"where": where, "where_document": where_document}
        if self.retrieval == "dense":
            hits = self.store.search(query, depth, **filters)
        elif self.retrieval == "bm25":
            hits = self.store.bm25.search(query, depth, **filters)
        else:
            hits = self._hybrid(query, depth, filters)
        if self.mmr is not None and len(hits) > k:
            vectors = self.store.embeddings([hit.id for hit in hits])
            hits = [hits[i] for i in fusion.mmr(self._relevance(hits), vectors, k, self.mmr)]
        return hits[:k]

    def _relevance(self, hits: list[Hit]) -> np.ndarray:
        """MMR's relevance: cosine similarity for dense hits, else scores scaled to [0, 1]."""
        scores = np.array([hit.retrieval_score or 0.0 for hit in hits])
        if self.retrieval == "dense":
            return scores
        low, high = scores.min(), scores.max()
        return (scores - low) / (high - low) if high > low else np.ones_like(scores)

    def _hybrid(self, query: str, k: int, filters: dict[str, Any]) -> list[Hit]:
        found = {
            "dense": self.store.search(query, k, **filters),
            "bm25": self.store.bm25.search(query, k, **filters),
        }
        if self.fusion == "rrf":
            rankings = {name: [hit.id for hit in hits] for name, hits in found.items()}
            fused = fusion.reciprocal_rank(rankings, self.weights)
        else:
            scores = {name: {h.id: h.scores[name] for h in hits} for name, hits in found.items()}
            fused = fusion.convex(scores, self.weights)
        merged: dict[str, Hit] = {}
        for hits in found.values():
            for hit in hits:
                known = merged.get(hit.id)
                merged[hit.id] = replace(
                    hit, scores={**(known.scores if known else {}), **hit.scores}
                )
        return [replace(merged[i], retrieval_score=score) for i, score in list(fused.items())[:k]]

"""Retrieve (dense, BM25 or hybrid; optionally diversified) then rerank, in one call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from . import fusion, tracing
from .hit import Hit
from .reranker import Reranker
from .retrievers import Retriever
from .settings import RetrievalSettings, check_cutoffs
from .store import Store


class Pipeline:
    """Two-stage retrieval: ``fetch_k`` candidates from the store, reranked, best ``top_n`` kept.

    The first stage composes the store's peer retrievers (``store.dense``, ``store.bm25``)
    as the :class:`~crossrank.settings.RetrievalSettings` say.

    Args:
        store: Where candidates come from.
        reranker: The cross-encoder; None switches reranking off (retrieval order).
        top_n: Hits returned.
        threshold: Drop reranked hits scoring below this value in [0, 1].
        settings: The first stage's settings.
        options: Fields of :class:`~crossrank.settings.RetrievalSettings` (``retrieval``,
            ``fusion``, ``weights``, ``fetch_k``, ``mmr``), instead of ``settings``.

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
        top_n: int = 5,
        threshold: float | None = None,
        settings: RetrievalSettings | None = None,
        **options: Any,
    ) -> None:
        check_cutoffs(top_n, threshold)
        self.settings = replace(settings, **options) if settings else RetrievalSettings(**options)
        self.store = store
        self.reranker = reranker
        self.top_n = top_n
        self.threshold = threshold
        self.retrievers: dict[str, Retriever] = {"dense": store.dense, "bm25": store.bm25}

    def search(
        self,
        query: str,
        *,
        top_n: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The best ``top_n`` hits for ``query``: reranked when a reranker is set.

        ``fetch_k`` candidates are retrieved either way, so that reranking only reorders
        the first stage's candidates (hybrid fusion and MMR see the same pool).
        """
        top_n = self.top_n if top_n is None else top_n
        with self._searching(query, top_n) as current:
            hits = self.retrieve(
                query, max(self.settings.fetch_k, top_n), where=where, where_document=where_document
            )
            if self.reranker is None:
                hits = hits[:top_n]
            else:
                hits = self.reranker.rerank(query, hits, top_n=top_n, threshold=self.threshold)
            current.output([{"id": hit.id, "score": hit.score} for hit in hits])
        return hits

    async def asearch(
        self,
        query: str,
        *,
        top_n: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """:meth:`search` for coroutines: retrieval runs in a worker thread, reranking in the
        model's batches shared with the process's other callers; the event loop never
        blocks on either."""
        top_n = self.top_n if top_n is None else top_n
        with self._searching(query, top_n) as current:
            hits = await asyncio.to_thread(
                self.retrieve,
                query,
                max(self.settings.fetch_k, top_n),
                where=where,
                where_document=where_document,
            )
            if self.reranker is None:
                hits = hits[:top_n]
            else:
                hits = await self.reranker.arerank(
                    query, hits, top_n=top_n, threshold=self.threshold
                )
            current.output([{"id": hit.id, "score": hit.score} for hit in hits])
        return hits

    @contextmanager
    def _searching(self, query: str, top_n: int) -> Iterator[tracing.Span]:
        check_cutoffs(top_n, None)
        settings = {
            "crossrank.retrieval": self.settings.retrieval,
            "crossrank.fetch_k": self.settings.fetch_k,
            "crossrank.top_n": top_n,
            "crossrank.reranker": self.reranker.model_name if self.reranker else None,
        }
        with tracing.span("search", tracing.CHAIN, settings) as current:
            current.input(query)
            yield current

    def retrieve(
        self,
        query: str,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The first stage alone: ``k`` candidates by this pipeline's retrieval, best first."""
        settings = self.settings
        depth = 2 * k if settings.mmr is not None else k
        filters = {"where": where, "where_document": where_document}
        if settings.retrieval == "hybrid":
            hits = self._hybrid(query, depth, filters)
        else:
            hits = self.retrievers[settings.retrieval].search(query, depth, **filters)
        if settings.mmr is not None and len(hits) > k:
            with tracing.span("mmr", tracing.CHAIN, {"crossrank.mmr.lambda": settings.mmr}) as step:
                vectors = self.store.embeddings([hit.id for hit in hits])
                chosen = fusion.mmr(self._relevance(hits), vectors, k, settings.mmr)
                hits = [hits[i] for i in chosen]
                step.retrieved(hits)
        return hits[:k]

    def _relevance(self, hits: list[Hit]) -> np.ndarray:
        """MMR's relevance: cosine similarity for dense hits, else scores scaled to [0, 1]."""
        scores = np.array([hit.retrieval_score or 0.0 for hit in hits])
        if self.settings.retrieval == "dense":
            return scores
        low, high = scores.min(), scores.max()
        return (scores - low) / (high - low) if high > low else np.ones_like(scores)

    def _hybrid(self, query: str, k: int, filters: dict[str, Any]) -> list[Hit]:
        attributes = {
            "crossrank.fusion": self.settings.fusion,
            "crossrank.weights": json.dumps(self.settings.weights),
        }
        with tracing.retrieving("hybrid", k, query, attributes) as current:
            hits = self._fused(query, k, filters)
            current.retrieved(hits)
        return hits

    def _fused(self, query: str, k: int, filters: dict[str, Any]) -> list[Hit]:
        found = {name: each.search(query, k, **filters) for name, each in self.retrievers.items()}
        weights = self.settings.weights
        if self.settings.fusion == "rrf":
            rankings = {name: [hit.id for hit in hits] for name, hits in found.items()}
            fused = fusion.reciprocal_rank(rankings, weights)
        else:
            scores = {name: {h.id: h.scores[name] for h in hits} for name, hits in found.items()}
            fused = fusion.convex(scores, weights)
        last: dict[str, Hit] = {}  # copied once, below, for the hits kept
        merged_scores: dict[str, dict[str, float]] = {}
        for hits in found.values():
            for hit in hits:
                last[hit.id] = hit
                merged_scores.setdefault(hit.id, {}).update(hit.scores)
        return [
            replace(last[i], retrieval_score=score, scores=merged_scores[i])
            for i, score in list(fused.items())[:k]
        ]

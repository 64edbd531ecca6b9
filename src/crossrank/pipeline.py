"""Retrieve then rerank, in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .hit import Hit
from .reranker import Reranker, check_cutoffs
from .store import Store


class Pipeline:
    """Two-stage retrieval: ``fetch_k`` candidates from the store, reranked, best ``top_n`` kept.

    Args:
        store: Where candidates come from.
        reranker: The cross-encoder; None switches reranking off (retrieval order).
        fetch_k: Candidates retrieved for the reranker.
        top_n: Hits returned.
        threshold: Drop reranked hits scoring below this value in [0, 1].

    Example:
        >>> pipeline = Pipeline(Store(), Reranker("path/to/cross-encoder"))
        >>> for hit in pipeline.search("how do I install it?"):
        ...     print(hit.rerank_score, hit.text[:60])
    """

    def __init__(
        self,
        store: Store,
        reranker: Reranker | None = None,
        *,
        fetch_k: int = 50,
        top_n: int = 5,
        threshold: float | None = None,
    ) -> None:
        check_cutoffs(top_n, threshold)
        if fetch_k < 1:
            raise ValueError(f"fetch_k must be at least 1, got {fetch_k}")
        self.store = store
        self.reranker = reranker
        self.fetch_k = fetch_k
        self.top_n = top_n
        self.threshold = threshold

    def search(
        self,
        query: str,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The best ``top_n`` hits for ``query``: reranked when a reranker is set."""
        if self.reranker is None:
            return self.store.search(query, self.top_n, where=where, where_document=where_document)
        candidates = self.store.search(
            query, max(self.fetch_k, self.top_n), where=where, where_document=where_document
        )
        return self.reranker.rerank(query, candidates, top_n=self.top_n, threshold=self.threshold)

"""A LangChain retriever over a crossrank Chroma store, optionally reranking."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, model_validator

from crossrank import Hit, Pipeline, Reranker, Store
from crossrank.pipeline import DEFAULT_FUSION, DEFAULT_RETRIEVAL
from crossrank.store import DEFAULT_COLLECTION, DEFAULT_DB


class CrossRankRetriever(BaseRetriever):
    """Retrieve documents from a crossrank store: hybrid, dense or BM25 search, then reranking.

    Each document's ``id`` is the crossrank chunk id; its metadata carries the chunk's
    ``source``, ``chunk_index`` and character offsets, ``retrieval_score`` (cosine
    similarity; BM25 score or fused score with ``retrieval="bm25"``/``"hybrid"``), each
    retriever's own ``dense_score``/``bm25_score``, and, when reranked, ``relevance_score``
    (the calibrated rerank score).

    Args:
        store: A crossrank ``Store``; when omitted one is opened from ``path``/``collection``
            (or a Chroma server at ``host``/``port`` with ``headers``), embedding with ``model``.
        k: Documents returned (also accepted per call: ``invoke(query, k=3)``).
        fetch_k: Candidates retrieved for the reranker.
        filter: A Chroma ``where`` filter (also accepted per call).
        reranker: A crossrank ``Reranker`` or a cross-encoder name/folder; None: no reranking.
        threshold: Drop reranked documents scoring below this value in [0, 1].
        retrieval: ``"hybrid"`` (default), ``"dense"`` or ``"bm25"`` (see ``Pipeline``).
        fusion: Hybrid fusion, ``"convex"`` or ``"rrf"``.
        weights: Hybrid weights (default ``{"dense": 0.9, "bm25": 0.1}``).
        mmr: MMR lambda to diversify the candidates; None: no MMR.

    Example:
        >>> retriever = CrossRankRetriever(path="./.crossrank", k=5, reranker="models/ce")
        >>> docs = retriever.invoke("How do I leave a loop early?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Store
    k: int = 5
    fetch_k: int = 50
    filter: dict[str, Any] | None = None
    reranker: Reranker | None = None
    threshold: float | None = None
    retrieval: str = DEFAULT_RETRIEVAL
    fusion: str = DEFAULT_FUSION
    weights: dict[str, float] | None = None
    mmr: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _open(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        opening = {
            key: values.pop(key)
            for key in ("path", "collection", "host", "port", "headers", "model")
            if key in values
        }
        if values.get("store") is None:
            values["store"] = Store(
                opening.pop("path", DEFAULT_DB),
                opening.pop("collection", DEFAULT_COLLECTION),
                opening.pop("model", None),
                **opening,
            )
        elif opening:
            raise ValueError(f"pass either store or {sorted(opening)}, not both")
        if isinstance(values.get("reranker"), str):
            values["reranker"] = Reranker(values["reranker"])
        return values

    def _search(self, query: str, **kwargs: Any) -> list[Document]:
        pipeline = Pipeline(
            self.store,
            self.reranker,
            fetch_k=self.fetch_k,
            top_n=kwargs.get("k", self.k),
            threshold=self.threshold,
            retrieval=self.retrieval,
            fusion=self.fusion,
            weights=self.weights,
            mmr=self.mmr,
        )
        hits = pipeline.search(query, where=kwargs.get("filter", self.filter))
        return [_to_document(hit) for hit in hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # Model work and Chroma calls block: keep them off the event loop.
        return await asyncio.to_thread(self._search, query, **kwargs)


def _to_document(hit: Hit) -> Document:
    metadata = {**hit.metadata, "retrieval_score": hit.retrieval_score}
    metadata.update({f"{name}_score": score for name, score in hit.scores.items()})
    if hit.rerank_score is not None:
        metadata["relevance_score"] = hit.rerank_score
    return Document(id=hit.id, page_content=hit.text, metadata=metadata)

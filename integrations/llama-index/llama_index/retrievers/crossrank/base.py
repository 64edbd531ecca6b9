"""A LlamaIndex retriever over a crossrank Chroma store, optionally reranking."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.vector_stores.chroma.base import _to_chroma_filter

from crossrank import Hit, Pipeline, Reranker, Store
from crossrank.pipeline import DEFAULT_FUSION, DEFAULT_RETRIEVAL
from crossrank.store import DEFAULT_COLLECTION, DEFAULT_DB

# crossrank's bookkeeping stays out of what embedders and LLMs read; "source" is useful to
# an LLM (citations) and stays visible to it.
_BOOKKEEPING = [
    "chunk_index",
    "start_char",
    "end_char",
    "retrieval_score",
    "dense_score",
    "bm25_score",
]


class CrossRankRetriever(BaseRetriever):
    """Retrieve nodes from a crossrank store: hybrid, dense or BM25 search, then reranking.

    Args:
        store: A crossrank ``Store``; when None one is opened from ``path``/``collection``
            (or a Chroma server at ``host``/``port``).
        path: Directory of the embedded Chroma database.
        collection: Collection name.
        host: Chroma server host.
        port: Chroma server port.
        headers: HTTP headers for the server, e.g. an auth token.
        model: Bi-encoder name or folder (must match the one the collection was built with).
        k: Nodes returned.
        fetch_k: Candidates retrieved for the reranker (used only with a reranker).
        filters: LlamaIndex ``MetadataFilters``, translated to a Chroma ``where``.
        reranker: A crossrank ``Reranker`` or a cross-encoder name/folder; None: no reranking.
        threshold: Drop reranked nodes scoring below this value in [0, 1].
        retrieval: ``"hybrid"`` (default), ``"dense"`` or ``"bm25"`` (see ``Pipeline``);
            each node's metadata keeps ``dense_score``/``bm25_score``.
        fusion: Hybrid fusion, ``"convex"`` or ``"rrf"``.
        weights: Hybrid weights (default ``{"dense": 0.9, "bm25": 0.1}``).
        mmr: MMR lambda to diversify the candidates; None: no MMR.

    Example:
        >>> retriever = CrossRankRetriever(path="./.crossrank", k=5, reranker="models/ce")
        >>> nodes = retriever.retrieve("How do I leave a loop early?")
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        path: str = DEFAULT_DB,
        collection: str = DEFAULT_COLLECTION,
        host: str | None = None,
        port: int = 8000,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
        k: int = 5,
        fetch_k: int = 50,
        filters: MetadataFilters | None = None,
        reranker: Reranker | str | None = None,
        threshold: float | None = None,
        retrieval: str = DEFAULT_RETRIEVAL,
        fusion: str = DEFAULT_FUSION,
        weights: Mapping[str, float] | None = None,
        mmr: float | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if store is None:
            store = Store(path, collection, model, host=host, port=port, headers=headers)
        if isinstance(reranker, str):
            reranker = Reranker(reranker)
        self.pipeline = Pipeline(
            store,
            reranker,
            fetch_k=fetch_k,
            top_n=k,
            threshold=threshold,
            retrieval=retrieval,
            fusion=fusion,
            weights=weights,
            mmr=mmr,
        )
        self.filters = filters
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def class_name(cls) -> str:
        return "CrossRankRetriever"

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        where = _to_chroma_filter(self.filters) if self.filters else None
        hits = self.pipeline.search(query_bundle.query_str, where=where)
        return [_to_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Model work and Chroma calls block: keep them off the event loop.
        return await asyncio.to_thread(self._retrieve, query_bundle)


def _to_node(hit: Hit) -> NodeWithScore:
    metadata = dict(hit.metadata)
    metadata.update({f"{name}_score": score for name, score in hit.scores.items()})
    if hit.rerank_score is not None:
        metadata["retrieval_score"] = hit.retrieval_score
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=metadata,
        excluded_embed_metadata_keys=list(metadata),
        excluded_llm_metadata_keys=[key for key in metadata if key in _BOOKKEEPING],
    )
    return NodeWithScore(node=node, score=hit.score)

"""A LlamaIndex retriever over a crossrank Chroma store, optionally reranking."""

from __future__ import annotations

import inspect
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from crossrank import Hit, Pipeline, Reranker, RetrievalSettings, Store
from crossrank.client import RemotePipeline
from crossrank.hit import BOOKKEEPING, framework_metadata
from crossrank.settings import take, take_connection

# LlamaIndex's filter operators, as Chroma's.
_OPERATORS = {
    "==": "$eq",
    "!=": "$ne",
    ">": "$gt",
    "<": "$lt",
    ">=": "$gte",
    "<=": "$lte",
    "in": "$in",
    "nin": "$nin",
}


class CrossRankRetriever(BaseRetriever):
    """Retrieve nodes from a crossrank store: hybrid, dense or BM25 search, then reranking.

    Each node's metadata carries the chunk's metadata, ``retrieval_score``, each
    retriever's ``dense_score``/``bm25_score`` and, when reranked, ``relevance_score``:
    the same keys as the LangChain adapter's documents. Scores and offsets are hidden from
    the LLM and the embedder; ``source`` stays visible to the LLM (for citations).

    Args:
        store: A crossrank ``Store``; when None one is opened from ``options`` naming a
            :class:`crossrank.Connection` (``path``, ``collection``, ``host``, ``port``,
            ``headers``, ``in_memory``), embedding with ``model``.
        model: Bi-encoder name or folder (must match the one the collection was built with;
            name it to open a collection LlamaIndex's ``ChromaVectorStore`` built).
        query_prompt: With ``model``: the text put before queries (None: the model's own
            query prompt, as sentence-transformers' ``encode_query`` applies it).
        document_prompt: With ``model``: the text put before passages.
        client: An existing ``chromadb`` client to open the collection with.
        k: Nodes returned.
        filters: LlamaIndex ``MetadataFilters``, translated to a Chroma ``where``.
        reranker: A crossrank ``Reranker`` or a cross-encoder name/folder; None: no reranking.
        threshold: Drop reranked nodes scoring below this value in [0, 1].
        settings: The first stage's :class:`crossrank.RetrievalSettings`.
        server: A ``crossrank serve`` URL: search (and rerank, if the server has a
            reranker) there, with its store and models; ``store``, ``model``, ``client``
            and ``reranker`` are then the server's and must not be given.
        options: Fields of ``Connection`` and of ``RetrievalSettings`` (``retrieval``,
            ``fusion``, ``weights``, ``fetch_k``, ``mmr``).

    Example:
        >>> retriever = CrossRankRetriever(path="./.crossrank", k=5, reranker="models/ce")
        >>> nodes = retriever.retrieve("How do I leave a loop early?")
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        model: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        client: Any = None,
        k: int = 5,
        filters: MetadataFilters | None = None,
        reranker: Reranker | str | None = None,
        threshold: float | None = None,
        settings: RetrievalSettings | None = None,
        server: str | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> None:
        settings = settings or take(RetrievalSettings, options)
        self.pipeline: Pipeline | RemotePipeline
        if server is not None:
            prompts = query_prompt is not None or document_prompt is not None
            if store is not None or model or client is not None or reranker or options or prompts:
                raise ValueError(
                    "with server, the server's store and models are used: pass no store, "
                    "model, client, reranker or connection"
                )
            self.pipeline = RemotePipeline(server, top_n=k, threshold=threshold, settings=settings)
            self.filters = filters
            super().__init__(callback_manager=callback_manager, verbose=verbose)
            return
        connection = take_connection(
            options, owner=type(self).__name__, known={*_PARAMETERS, *_RETRIEVAL}
        )
        if store is None:
            store = Store(
                encoder=model,
                connection=connection,
                client=client,
                query_prompt=query_prompt,
                document_prompt=document_prompt,
            )
        elif query_prompt is not None or document_prompt is not None:
            raise ValueError("pass the prompts with model, or set them on the store's Encoder")
        if isinstance(reranker, str):
            reranker = Reranker(reranker)
        self.pipeline = Pipeline(store, reranker, top_n=k, threshold=threshold, settings=settings)
        self.filters = filters
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def class_name(cls) -> str:
        return "CrossRankRetriever"

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        where = to_chroma_where(self.filters) if self.filters else None
        hits = self.pipeline.search(query_bundle.query_str, where=where)
        return [_to_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Off the event loop: Chroma in a worker thread, the model in batches shared with
        # concurrent callers.
        where = to_chroma_where(self.filters) if self.filters else None
        hits = await self.pipeline.asearch(query_bundle.query_str, where=where)
        return [_to_node(hit) for hit in hits]


_PARAMETERS = set(inspect.signature(CrossRankRetriever.__init__).parameters) - {"self", "options"}
_RETRIEVAL = set(RetrievalSettings.__dataclass_fields__)


def to_chroma_where(filters: MetadataFilters) -> dict[str, Any]:
    """LlamaIndex ``MetadataFilters`` as a Chroma ``where`` filter (nested ones too)."""
    clauses: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            clauses.append(to_chroma_where(item))
        else:
            clauses.append({item.key: {_operator(item): item.value}})
    if len(clauses) == 1:
        return clauses[0]
    condition = str(getattr(filters.condition, "value", filters.condition) or "and").lower()
    return {f"${condition}": clauses} if clauses else {}


def _operator(item: MetadataFilter) -> str:
    operator = str(getattr(item.operator, "value", item.operator))
    if operator not in _OPERATORS:
        raise ValueError(
            f"filter operator {operator!r} on {item.key!r} is not supported by Chroma; "
            f"use one of {', '.join(_OPERATORS)}"
        )
    return _OPERATORS[operator]


def _to_node(hit: Hit) -> NodeWithScore:
    metadata = framework_metadata(hit)
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=metadata,
        excluded_embed_metadata_keys=list(metadata),
        excluded_llm_metadata_keys=[key for key in metadata if key in BOOKKEEPING],
    )
    return NodeWithScore(node=node, score=hit.score)

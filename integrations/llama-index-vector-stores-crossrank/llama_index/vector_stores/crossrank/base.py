"""A LlamaIndex vector store on a crossrank store: nodes in a Chroma collection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llama_index.core import Settings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.retrievers.crossrank.base import to_chroma_where

from crossrank import Hit, Store
from crossrank.encoder import Embedder, FunctionEncoder, NoEncoder
from crossrank.settings import take_connection

NO_MODEL = (
    "CrossRankVectorStore was made without an embedding model, so it stores and answers "
    "the vectors VectorStoreIndex computes; for crossrank's own text search (CrossRankRetriever, "
    "hybrid), make it with CrossRankVectorStore(embed_model=...) or set Settings.embed_model"
)


class CrossRankVectorStore(BasePydanticVectorStore):
    """Nodes in a crossrank store: what ``VectorStoreIndex`` writes, crossrank retrieves.

    Nodes are stored as LlamaIndex's ``ChromaVectorStore`` stores them (text, flattened
    metadata and the node's JSON), so collections either one built open in the other, and
    nodes come back with their metadata and relationships. Scores are cosine similarities.
    For hybrid retrieval and reranking on top, use
    ``CrossRankRetriever(vector_store.store, ...)``.

    Args:
        embed_model: The embedding model of the index (default ``Settings.embed_model`` if
            one was set): recorded in the collection, and used to embed query text for
            crossrank's own retrieval. Without one, as with ``ChromaVectorStore``, the store
            keeps and searches the vectors ``VectorStoreIndex`` computes (with its own
            ``embed_model=``), and the collection records no model.
        store: A crossrank ``Store`` to use as it is (then leave out the rest).
        client: An existing ``chromadb`` client.
        options: Fields of :class:`crossrank.Connection` (``path``, ``collection``,
            ``host``, ``port``, ``headers``, ``in_memory``); with no ``path`` and no
            ``host`` the store is in memory.

    Example:
        >>> vector_store = CrossRankVectorStore(embed_model=embed_model, path="./db")
        >>> index = VectorStoreIndex.from_documents(
        ...     documents, storage_context=StorageContext.from_defaults(vector_store=vector_store)
        ... )
    """

    stores_text: bool = True
    flat_metadata: bool = False
    _store: Store = PrivateAttr()

    def __init__(
        self,
        embed_model: BaseEmbedding | None = None,
        *,
        store: Store | None = None,
        client: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(stores_text=True)
        if store is None:
            connection = take_connection(options, in_memory_default=True, owner=type(self).__name__)
            # Settings.embed_model would make LlamaIndex's default (OpenAI) model when none
            # was set: like ChromaVectorStore, do without one unless it was given or set.
            model = embed_model or Settings._embed_model
            encoder: Embedder = NoEncoder(NO_MODEL)
            if model is not None:
                encoder = FunctionEncoder(
                    model.get_text_embedding_batch,
                    name=model.model_name,
                    embed_query=model.get_query_embedding,
                )
            store = Store(encoder=encoder, connection=connection, client=client)
        self._store = store

    @classmethod
    def class_name(cls) -> str:
        return "CrossRankVectorStore"

    @property
    def store(self) -> Store:
        """The crossrank store underneath (for ``CrossRankRetriever``)."""
        return self._store

    @property
    def client(self) -> Any:
        return self._store.client

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes with the embeddings the index computed for them."""
        if not nodes:
            return []
        return self._store.add_texts(
            [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes],
            [node_to_metadata_dict(node, remove_text=True, flat_metadata=False) for node in nodes],
            ids=[node.node_id for node in nodes],
            embeddings=[node.get_embedding() for node in nodes],
        )

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete the nodes of one source document."""
        self.delete_nodes(filters=None, ref_doc_ids=[ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id, by metadata filters, or (``ref_doc_ids=``) by document."""
        where = self._where(filters, delete_kwargs.get("ref_doc_ids"))
        if node_ids is None and where is None:
            return
        ids = self._store.collection.get(node_ids, where=where, include=[])["ids"]
        self._store.delete(ids)

    def clear(self) -> None:
        """Delete every node."""
        self._store.delete(self._store.collection.get(include=[])["ids"])

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id and/or metadata filters, with their metadata and relationships."""
        found = self._store.collection.get(
            node_ids, where=self._where(filters), include=["documents", "metadatas"], decode=False
        )
        return [
            _node(id_, text, meta)
            for id_, text, meta in zip(
                found["ids"], found["documents"], found["metadatas"], strict=True
            )
        ]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The nodes nearest to ``query.query_embedding`` (default or MMR mode)."""
        if query.query_embedding is None:
            raise ValueError("CrossRankVectorStore.query needs query.query_embedding")
        where = self._where(query.filters, query.doc_ids)
        k = query.similarity_top_k
        if query.mode == VectorStoreQueryMode.MMR:
            hits = self._store.search_mmr(
                None,
                k,
                fetch_k=kwargs.get("mmr_prefetch_k") or 4 * k,
                lambda_mult=query.mmr_threshold if query.mmr_threshold is not None else 0.5,
                vector=query.query_embedding,
                where=where,
            )
        elif query.mode == VectorStoreQueryMode.DEFAULT:
            hits = self._store.search_by_vector(query.query_embedding, k, where=where)
        else:
            raise ValueError(f"query mode {query.mode!r} is not supported; use default or mmr")
        nodes = self._nodes(hits)
        return VectorStoreQueryResult(
            nodes=nodes,
            similarities=[float(hit.retrieval_score or 0.0) for hit in hits],
            ids=[hit.id for hit in hits],
        )

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    def _where(
        self, filters: MetadataFilters | None, ref_doc_ids: list[str] | None = None
    ) -> dict[str, Any] | None:
        clauses = [to_chroma_where(filters)] if filters and filters.filters else []
        if ref_doc_ids:
            clauses.append({"ref_doc_id": {"$in": list(ref_doc_ids)}})
        return clauses[0] if len(clauses) == 1 else {"$and": clauses} if clauses else None

    def _nodes(self, hits: list[Hit]) -> list[BaseNode]:
        found = self._store.collection.get(
            [hit.id for hit in hits], include=["metadatas"], decode=False
        )
        raw = dict(zip(found["ids"], found["metadatas"], strict=True))
        return [_node(hit.id, hit.text, raw.get(hit.id)) for hit in hits]


def _node(node_id: str, text: str | None, metadata: dict[str, Any] | None) -> BaseNode:
    """A node from a stored record: LlamaIndex's node JSON, or a text node for others."""
    from llama_index.core.schema import TextNode

    from crossrank.metadata import from_chroma, record_text

    if metadata and "_node_content" in metadata:
        node = metadata_dict_to_node(metadata)
        node.set_content(record_text(text, metadata))
        return node
    return TextNode(id_=node_id, text=text or "", metadata=from_chroma(metadata))

"""A LangChain ``VectorStore`` on a crossrank store, with any LangChain ``Embeddings``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from crossrank import Hit, Store
from crossrank.encoder import FunctionEncoder
from crossrank.settings import take_connection


class CrossRankVectorStore(VectorStore):
    """A Chroma collection that LangChain writes and reads, and crossrank retrieves from.

    Texts are stored as given (no chunking), embedded by the LangChain ``Embeddings``; the
    metadata comes back exactly as given. Scores are cosine similarities (higher is
    better), whatever the collection's distance. The store opens collections that
    ``langchain_chroma.Chroma`` built, too (name the same embedding model). For hybrid
    retrieval and reranking on top, use ``CrossRankRetriever(store=vectorstore.store, ...)``.

    Args:
        embedding: Any LangChain ``Embeddings``.
        model_name: The name recorded for the embedding model; default: the embeddings'
            ``model_name`` or ``model`` attribute, else its class name.
        store: A crossrank ``Store`` to use as it is (then leave out the rest).
        client: An existing ``chromadb`` client.
        options: Fields of :class:`crossrank.Connection` (``path``, ``collection``,
            ``host``, ``port``, ``headers``, ``in_memory``); with no ``path`` and no
            ``host`` the store is in memory, as ``langchain_chroma.Chroma``'s default is.

    Example:
        >>> vectorstore = CrossRankVectorStore.from_documents(
        ...     docs, HuggingFaceEmbeddings(model_name="all-MiniLM-L6-v2"), path="./db"
        ... )
        >>> vectorstore.similarity_search("How do I leave a loop early?", k=4)
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        model_name: str | None = None,
        store: Store | None = None,
        client: Any = None,
        **options: Any,
    ) -> None:
        self._embedding = embedding
        if store is None:
            connection = take_connection(options, in_memory_default=True, owner=type(self).__name__)
            encoder = FunctionEncoder(
                embedding.embed_documents,
                name=model_name or _model_name(embedding),
                embed_query=embedding.embed_query,
            )
            store = Store(encoder=encoder, connection=connection, client=client)
        self.store = store

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store ``texts``; a missing id gets a stable content id."""
        return self.store.add_texts(list(texts), metadatas, ids=ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove documents by id (unknown ids are ignored)."""
        if ids is None:
            raise ValueError("pass the ids of the documents to delete")
        self.store.delete(list(ids))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids that exist, in the order of ``ids``."""
        found = self.store.collection.get(list(ids))
        rows = {
            id_: Document(id=id_, page_content=text, metadata=meta)
            for id_, text, meta in zip(
                found["ids"], found["documents"], found["metadatas"], strict=True
            )
        }
        return [rows[id_] for id_ in ids if id_ in rows]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents most similar to ``query`` (``filter``: a Chroma ``where``)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents with their cosine similarity to ``query``, best first."""
        hits = self.store.search(
            query, k, where=filter, where_document=kwargs.get("where_document")
        )
        return [(_document(hit), float(hit.retrieval_score or 0.0)) for hit in hits]

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The ``k`` documents most similar to a query embedding."""
        hits = self.store.search_by_vector(embedding, k, where=filter)
        return [_document(hit) for hit in hits]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` of the ``fetch_k`` most similar documents, diversified (MMR)."""
        hits = self.store.search_mmr(
            query, k, fetch_k=fetch_k, lambda_mult=lambda_mult, where=filter
        )
        return [_document(hit) for hit in hits]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR from a query embedding."""
        hits = self.store.search_mmr(
            None, k, fetch_k=fetch_k, lambda_mult=lambda_mult, vector=embedding, where=filter
        )
        return [_document(hit) for hit in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return _identity  # scores are already cosine similarities

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> CrossRankVectorStore:
        """A store (see the class's arguments) holding ``texts``."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store


def _identity(score: float) -> float:
    return score


def _model_name(embedding: Embeddings) -> str:
    for attribute in ("model_name", "model"):
        value = getattr(embedding, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(embedding).__name__


def _document(hit: Hit) -> Document:
    return Document(id=hit.id, page_content=hit.text, metadata=dict(hit.metadata))

"""The store: a collection, its indexer and its two retrievers, opened together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np

from . import fusion, tracing
from .bm25 import BM25Index
from .collection import Collection
from .encoder import Embedder, Encoder, FunctionEncoder
from .hit import Chunk, Hit
from .indexer import Indexer, IndexReport
from .ingest import MAX_FILE_MB, content_id
from .retrievers import DenseRetriever
from .settings import DEFAULT_COLLECTION, DEFAULT_DB, DEFAULT_ENCODER, Connection


class Store:
    """A Chroma collection of chunks embedded by one bi-encoder, with its retrievers.

    Embedded and persistent by default (a directory), in memory with ``in_memory=True``,
    or a Chroma server with ``host``/``port`` (and optional ``headers``, e.g. an auth
    token), or any :class:`~crossrank.settings.Connection`. The collection uses cosine
    distance and records the embedding model and dimension; opening it with another model
    raises :class:`CollectionMismatchError`. Reading a store that does not exist yet finds
    nothing and creates nothing; the first write creates it.

    The parts are public: ``collection`` (:class:`~crossrank.collection.Collection`),
    ``indexer`` (:class:`~crossrank.indexer.Indexer`), and the peer retrievers ``dense``
    and ``bm25`` that :class:`~crossrank.Pipeline` composes.

    Args:
        path: Directory of the embedded database.
        collection: Collection name (3+ characters, Chroma's rule).
        encoder: The bi-encoder, or a model name or folder for one, or any
            :class:`~crossrank.encoder.Embedder` (e.g. a :class:`FunctionEncoder` around a
            framework's embedding model), or any function from texts to vectors (recorded
            by its qualified name); defaults to all-MiniLM-L6-v2. Name it to open a
            collection another library built (langchain-chroma, LlamaIndex).
        in_memory: Keep everything in memory (nothing written to disk).
        host: Chroma server host; when set, ``path`` is ignored.
        port: Chroma server port.
        headers: HTTP headers sent to the server, e.g. ``{"Authorization": "Bearer ..."}``.
        client: An existing ``chromadb`` client to use instead of making one.
        connection: All of ``path`` to ``in_memory`` in one object (then leave those out).
        keyword_dir: A folder to keep the keyword (BM25) index in, one subfolder per
            collection, so a restart opens it as saved and reads only what changed. An
            embedded store keeps it beside its database unless this is given; a server or
            in-memory store keeps it in memory (built at the first keyword search) unless
            this is given.
        query_prompt: With a model name: the text put before queries (None: the
            model's own; see :class:`~crossrank.Encoder`).
        document_prompt: With a model name: the text put before passages.

    Example:
        >>> store = Store("./.crossrank")
        >>> store.index(["docs/"])
        >>> store.search("how do I install it?", k=5)
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        collection: str = DEFAULT_COLLECTION,
        encoder: Embedder | str | Callable[[list[str]], Any] | None = None,
        *,
        in_memory: bool = False,
        host: str | None = None,
        port: int = 8000,
        headers: Mapping[str, str] | None = None,
        client: Any = None,
        connection: Connection | None = None,
        keyword_dir: str | Path | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
    ) -> None:
        if (query_prompt is not None or document_prompt is not None) and not (
            encoder is None or isinstance(encoder, str)
        ):
            raise ValueError(
                "query_prompt and document_prompt go with a model name; for an encoder object, "
                "set them on it: Encoder(model, query_prompt=..., document_prompt=...)"
            )
        self.connection = connection or Connection(
            path, collection, host, port, dict(headers or {}), in_memory
        )
        if encoder is None or isinstance(encoder, str):
            self.encoder: Embedder = Encoder(
                encoder or DEFAULT_ENCODER,
                query_prompt=query_prompt,
                document_prompt=document_prompt,
            )
        elif hasattr(encoder, "embed"):
            self.encoder = cast(Embedder, encoder)
        else:  # a function from texts to vectors
            self.encoder = FunctionEncoder(encoder, name=_name_of(encoder))
        self.collection = Collection(
            self.connection, self.encoder, client=client, named=encoder is not None
        )
        self.indexer = Indexer(self.collection)
        self.dense = DenseRetriever(self.collection)
        folder: Path | None = None
        if keyword_dir is not None:
            folder = Path(keyword_dir).expanduser() / self.connection.collection
        elif self.connection.persistent and client is None:
            folder = Path(self.connection.path) / "keyword" / self.connection.collection
        self.bm25 = BM25Index(self.collection, folder)

    @property
    def client(self) -> Any:
        """The underlying ``chromadb`` client."""
        return self.collection.client

    def count(self) -> int:
        """Number of chunks stored (0 for a store not created yet)."""
        return self.collection.count()

    def add(self, chunks: Sequence[Chunk], *, progress: bool = False) -> int:
        """Embed and store the chunks not yet stored; return how many were embedded."""
        return self.indexer.add(chunks, progress=progress)

    def index(
        self,
        paths: Iterable[str | Path],
        *,
        chunk_size: int | None = None,
        chunk_overlap: int = 32,
        max_file_mb: float = MAX_FILE_MB,
        progress: bool = False,
    ) -> IndexReport:
        """Index files and folders; see :meth:`crossrank.indexer.Indexer.index`."""
        with tracing.span("index", tracing.CHAIN) as current:
            report = self.indexer.index(
                paths,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                max_file_mb=max_file_mb,
                progress=progress,
            )
            current.set({f"crossrank.index.{name}": n for name, n in asdict(report).items()})
        return report

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        embeddings: Any = None,
    ) -> list[str]:
        """Store texts as they are (no chunking), with their metadata; return their ids.

        Ids (each, or all) default to stable content ids (the same text and metadata, the
        same id);
        adding an id again replaces its record. ``embeddings`` (one vector per text) are
        used as given, else the encoder embeds the texts. Metadata comes back exactly as
        given (see :mod:`crossrank.metadata` for values Chroma cannot store).

        Example:
            >>> store.add_texts(["Paris is in France."], [{"source": "geo.txt", "page": 3}])
            ['5f1c...']
        """
        metadatas = list(metadatas) if metadatas is not None else [None] * len(texts)
        given = list(ids) if ids is not None else [None] * len(texts)
        if not len(texts) == len(metadatas) == len(given):
            raise ValueError(
                f"{len(texts)} texts, {len(metadatas)} metadatas and {len(given)} ids: "
                "need one of each per text"
            )
        filled = [
            id_ if id_ is not None else content_id(text, meta)
            for text, meta, id_ in zip(texts, metadatas, given, strict=True)
        ]
        if not texts:
            return []
        if len(set(filled)) != len(filled):
            raise ValueError("ids must be unique within one call")
        attributes = {"crossrank.add_texts.texts": len(texts), "crossrank.add_texts.embedded":
                      0 if embeddings is not None else len(texts)}  # fmt: skip
        with tracing.span("add_texts", tracing.CHAIN, attributes):
            self.collection.upsert(filled, list(texts), [m or {} for m in metadatas], embeddings)
        return filled

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        self.collection.delete(ids)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to ``query``, best first (dense retrieval).

        Args:
            query: The question or search text.
            k: How many hits to return at most.
            where: A Chroma metadata filter, e.g. ``{"source": "/docs/faq.md"}``.
            where_document: A Chroma document filter, e.g. ``{"$contains": "install"}``.
        """
        return self.dense.search(query, k, where=where, where_document=where_document)

    def search_by_vector(
        self,
        vector: Any,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to a query embedding given by the caller."""
        return self.dense.search_by_vector(vector, k, where=where, where_document=where_document)

    def search_mmr(
        self,
        query: str | None = None,
        k: int = 4,
        *,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        vector: Any = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """``k`` of the ``fetch_k`` nearest chunks, diversified by maximal marginal relevance.

        Searches by ``query`` text, or by a given query ``vector``; ``lambda_mult`` 1 is
        relevance only, 0 diversity only (LangChain's definition).
        """
        filters = {"where": where, "where_document": where_document}
        if vector is not None:
            hits = self.search_by_vector(vector, fetch_k, **filters)
        else:
            hits = self.search(query or "", fetch_k, **filters)
        if not hits:
            return []
        relevance = np.array([hit.retrieval_score or 0.0 for hit in hits])
        vectors = self.embeddings([hit.id for hit in hits])
        return [hits[i] for i in fusion.mmr(relevance, vectors, k, lambda_mult)]

    def embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """The stored embeddings of chunks ``ids``, one row each, in that order."""
        return self.collection.embeddings(ids)


def _name_of(function: Callable[..., Any]) -> str:
    owner = getattr(function, "__self__", None)  # a bound method: name its class too
    name = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{type(owner).__name__}.{name.split('.')[-1]}" if owner is not None else name

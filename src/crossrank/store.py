"""The store: a collection, its indexer and its two retrievers, opened together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import BM25Index
from .collection import Collection
from .encoder import Encoder
from .hit import Chunk, Hit
from .indexer import Indexer, IndexReport
from .ingest import MAX_FILE_MB
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
        encoder: The bi-encoder, or a model name or folder for one; defaults to
            all-MiniLM-L6-v2.
        in_memory: Keep everything in memory (nothing written to disk).
        host: Chroma server host; when set, ``path`` is ignored.
        port: Chroma server port.
        headers: HTTP headers sent to the server, e.g. ``{"Authorization": "Bearer ..."}``.
        client: An existing ``chromadb`` client to use instead of making one.
        connection: All of ``path`` to ``in_memory`` in one object (then leave those out).

    Example:
        >>> store = Store("./.crossrank")
        >>> store.index(["docs/"])
        >>> store.search("how do I install it?", k=5)
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        collection: str = DEFAULT_COLLECTION,
        encoder: Encoder | str | None = None,
        *,
        in_memory: bool = False,
        host: str | None = None,
        port: int = 8000,
        headers: Mapping[str, str] | None = None,
        client: Any = None,
        connection: Connection | None = None,
    ) -> None:
        self.connection = connection or Connection(
            path, collection, host, port, dict(headers or {}), in_memory
        )
        self.encoder = (
            encoder if isinstance(encoder, Encoder) else Encoder(encoder or DEFAULT_ENCODER)
        )
        self.collection = Collection(self.connection, self.encoder, client=client)
        self.indexer = Indexer(self.collection)
        self.dense = DenseRetriever(self.collection)
        saved = self.connection.persistent and client is None
        folder = Path(self.connection.path) / "bm25" / self.connection.collection
        self.bm25 = BM25Index(self.collection, folder if saved else None)

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
        return self.indexer.index(
            paths,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            max_file_mb=max_file_mb,
            progress=progress,
        )

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

    def embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """The stored embeddings of chunks ``ids``, one row each, in that order."""
        return self.collection.embeddings(ids)

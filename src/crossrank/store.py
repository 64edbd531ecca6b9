"""The vector store: crossrank chunks and their embeddings in a Chroma collection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._models import DEFAULT_ENCODER
from .bm25 import BM25Index
from .encoder import Encoder
from .errors import CollectionMismatchError, StoreError
from .hit import Chunk, Hit
from .ingest import MAX_FILE_MB, chunk_document, iter_documents

logger = logging.getLogger(__name__)

DEFAULT_DB = ".crossrank"
DEFAULT_COLLECTION = "crossrank"
MODEL_KEY = "crossrank:model"
DIMENSION_KEY = "crossrank:dimension"


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did."""

    files: int
    chunks: int
    embedded: int
    removed: int


class Store:
    """A Chroma collection of chunks embedded by one bi-encoder.

    Embedded and persistent by default (a directory), in memory with ``in_memory=True``,
    or a Chroma server with ``host``/``port`` (and optional ``headers``, e.g. an auth
    token). The collection uses cosine distance and records the embedding model and
    dimension; opening it with another model raises :class:`CollectionMismatchError`.

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
    ) -> None:
        if len(collection) < 3:
            raise ValueError(f"collection name {collection!r} is too short: Chroma needs 3+")
        self.path = Path(path)
        self.collection_name = collection
        self.encoder = (
            encoder if isinstance(encoder, Encoder) else Encoder(encoder or DEFAULT_ENCODER)
        )
        self._client = client or _make_client(self.path, in_memory, host, port, headers)
        self._collection: Any = None
        self.persistent = not in_memory and host is None and client is None
        self.bm25 = BM25Index(self)

    @property
    def client(self) -> Any:
        """The underlying ``chromadb`` client."""
        return self._client

    @property
    def collection(self) -> Any:
        """The Chroma collection, created on first use and checked against the encoder."""
        if self._collection is None:
            expected = {MODEL_KEY: self.encoder.model_name, DIMENSION_KEY: self.encoder.dimension}
            collection = self._client.get_or_create_collection(
                self.collection_name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=expected,
                embedding_function=None,
            )
            found = {key: (collection.metadata or {}).get(key) for key in expected}
            if found != expected:
                raise CollectionMismatchError(
                    f"collection {self.collection_name!r} was built with model "
                    f"{found[MODEL_KEY]!r} (dimension {found[DIMENSION_KEY]}), not "
                    f"{expected[MODEL_KEY]!r} (dimension {expected[DIMENSION_KEY]}): open it "
                    "with that model, or index into another collection"
                )
            self._collection = collection
        return self._collection

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.collection.count())

    def add(self, chunks: Sequence[Chunk], *, progress: bool = False) -> int:
        """Embed and store the chunks not yet stored; return how many were embedded."""
        unique = list({chunk.id: chunk for chunk in chunks}.values())
        known = set(self._existing_ids([chunk.id for chunk in unique]))
        todo = [chunk for chunk in unique if chunk.id not in known]
        step = min(self._client.get_max_batch_size(), 256)
        from tqdm.auto import tqdm

        with tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress) as bar:
            for begin in range(0, len(todo), step):
                batch = todo[begin : begin + step]
                embeddings = self.encoder.embed([chunk.text for chunk in batch])
                with self._writing():
                    self.collection.upsert(
                        ids=[chunk.id for chunk in batch],
                        embeddings=embeddings,
                        documents=[chunk.text for chunk in batch],
                        metadatas=[chunk.metadata for chunk in batch],
                    )
                bar.update(len(batch))
        return len(todo)

    def index(
        self,
        paths: Iterable[str | Path],
        *,
        chunk_size: int | None = None,
        chunk_overlap: int = 32,
        max_file_mb: float = MAX_FILE_MB,
        progress: bool = False,
    ) -> IndexReport:
        """Index files and folders (.txt, .md, .rst, .html), embedding only what changed.

        Chunks of a file that changed since it was last indexed are replaced; an
        unchanged file embeds nothing; the chunks of files deleted from an indexed folder
        are removed (a file that still exists keeps its chunks, even if it cannot be read).

        Args:
            paths: Files and folders; folders are searched recursively.
            chunk_size: Tokens per chunk; None fills the bi-encoder's max_seq_length.
            chunk_overlap: Tokens shared by consecutive chunks.
            max_file_mb: Larger files are skipped with a warning.
            progress: Show a progress bar.
        """
        paths = list(paths)
        tokenizer = self.encoder.model.tokenizer
        size = chunk_size or self.encoder.chunk_tokens
        files = removed = 0
        chunks: list[Chunk] = []
        for source, text in iter_documents(paths, max_file_mb):
            files += 1
            with self.encoder.lock:
                document = chunk_document(source, text, tokenizer, size, chunk_overlap)
            removed += self._drop_stale(source, {chunk.id for chunk in document})
            chunks.extend(document)
        embedded = self.add(chunks, progress=progress)
        removed += self._drop_deleted([Path(p).resolve() for p in paths if Path(p).is_dir()])
        return IndexReport(files=files, chunks=len(chunks), embedded=embedded, removed=removed)

    def _drop_stale(self, source: str, keep: set[str]) -> int:
        stored = self.collection.get(where={"source": source}, include=[])["ids"]
        stale = [chunk_id for chunk_id in stored if chunk_id not in keep]
        if stale:
            self.delete(stale)
        return len(stale)

    def _drop_deleted(self, folders: list[Path]) -> int:
        if not folders:
            return 0
        stored = self.collection.get(include=["metadatas"])
        gone = [
            chunk_id
            for chunk_id, meta in zip(stored["ids"], stored["metadatas"], strict=True)
            if _deleted_from(str((meta or {}).get("source", "")), folders)
        ]
        if gone:
            self.delete(gone)
        return len(gone)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        step = self._client.get_max_batch_size()
        for begin in range(0, len(ids), step):
            with self._writing():
                self.collection.delete(ids=list(ids[begin : begin + step]))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        from chromadb.errors import InternalError

        try:
            yield
            self.bm25.invalidate()  # here and on disk, for every process
        except InternalError as error:
            raise StoreError(
                f"cannot write to the Chroma database at {self.path} ({error}): is it "
                "read-only, full, or locked?"
            ) from error

    def _existing_ids(self, ids: Sequence[str]) -> list[str]:
        step = self._client.get_max_batch_size()
        found: list[str] = []
        for begin in range(0, len(ids), step):
            batch = list(ids[begin : begin + step])
            found.extend(self.collection.get(ids=batch, include=[])["ids"])
        return found

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to ``query``, best first.

        Args:
            query: The question or search text.
            k: How many hits to return at most.
            where: A Chroma metadata filter, e.g. ``{"source": "/docs/faq.md"}``.
            where_document: A Chroma document filter, e.g. ``{"$contains": "install"}``.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        vector = self.encoder.embed_query(query)
        if self.count() == 0:
            return []
        result = self.collection.query(
            query_embeddings=[vector],
            n_results=k,
            where=dict(where) if where else None,
            where_document=dict(where_document) if where_document else None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(
                id_,
                text or "",
                dict(meta or {}),
                retrieval_score=1.0 - float(dist),
                scores={"dense": 1.0 - float(dist)},
            )
            for id_, text, meta, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """The stored embeddings of chunks ``ids``, one row each, in that order."""
        if not ids:
            return np.zeros((0, self.encoder.dimension), dtype=np.float32)
        found = self.collection.get(ids=list(ids), include=["embeddings"])
        rows = dict(zip(found["ids"], found["embeddings"], strict=True))
        missing = [chunk_id for chunk_id in ids if chunk_id not in rows]
        if missing:
            raise KeyError(f"{len(missing)} chunk ids are not in the store, e.g. {missing[0]!r}")
        return np.asarray([rows[chunk_id] for chunk_id in ids], dtype=np.float32)


def _deleted_from(source: str, folders: list[Path]) -> bool:
    path = Path(source)
    return (
        bool(source)
        and any(path.is_relative_to(folder) for folder in folders)
        and not path.exists()
    )


def _make_client(
    path: Path, in_memory: bool, host: str | None, port: int, headers: Mapping[str, str] | None
) -> Any:
    import chromadb

    # Default settings on purpose: chromadb allows one in-memory system per process, and
    # it refuses a second client with other settings (e.g. a user's plain EphemeralClient).
    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, headers=dict(headers or {}))
        except Exception as error:  # connection refused, 401/403 from an auth proxy...
            raise StoreError(f"cannot use the Chroma server at {host}:{port}: {error}") from error
    if in_memory:
        return chromadb.EphemeralClient()
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is a file, not a database folder: pass a folder path")
    try:
        return chromadb.PersistentClient(path=str(path))
    except Exception as error:  # chromadb raises bare Exceptions from its Rust core
        raise StoreError(f"cannot open the Chroma database at {path}: {error}") from error

"""The collection layer: one Chroma collection, its schema, reads and writes, clear errors.

Everything crossrank asks of Chroma goes through :class:`Collection`: it makes the client
from a :class:`~crossrank.settings.Connection`, checks that the collection was built with
the same embedding model, embeds (or takes) vectors, and turns Chroma's and the network's
exceptions into crossrank's own errors. Reading never creates a collection; the first
write does. Each write records a new version token in the collection's metadata, each
record written carries the time it was written, and each deletion is logged (the latest
:data:`LOGGED_DELETIONS` ids), so that derived state (the BM25 index), in this process or
another, on this machine or another, can tell that the collection changed and read only
what changed (:meth:`Collection.changes`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import Embedder
from .errors import CollectionMismatchError, StoreError
from .hit import Hit
from .metadata import from_chroma, record_text, to_chroma
from .settings import Connection

logger = logging.getLogger(__name__)

MODEL_KEY = "crossrank:model"
DIMENSION_KEY = "crossrank:dimension"
PROMPT_KEYS = {"query": "crossrank:query_prompt", "document": "crossrank:document_prompt"}
VERSION_KEY = "crossrank:version"
WRITTEN_KEY = "crossrank:written"  # on each record: when it was written (ns since the epoch)
DELETED_KEY = "crossrank:deleted"  # in the collection's metadata: the deletion log
LOGGED_DELETIONS = 1000  # ids kept in the log; a reader further behind reads everything
SERVER_TIMEOUT_S = 60.0  # the longest a call to a Chroma server may take (Chroma's own
CONNECT_TIMEOUT_S = 5.0  # query timeout is 60 s), and to connect to it


@dataclass(frozen=True)
class Changes:
    """What changed in a collection since a time: see :meth:`Collection.changes`.

    ``ids``/``texts`` are the records written since then, as stored now;
    ``deleted`` the ids deleted since then (some may have been written again: they are in
    ``ids`` too). ``complete`` is False when the log no longer reaches back that far.
    ``latest`` is the newest write or deletion time seen (0 if none).
    """

    ids: list[str]
    texts: list[str]
    deleted: list[str]
    complete: bool
    latest: int


class Collection:
    """A Chroma collection of texts, their metadata and their embeddings.

    A collection another library built (langchain-chroma, LlamaIndex's
    ``ChromaVectorStore``) records no crossrank model: it opens when the caller names the
    model it was built with (``named=True``), after its stored vectors' dimension is checked
    against the model's. Whatever the collection's distance (cosine, or Chroma's default
    l2, or ip), scores are cosine similarities. Metadata comes back exactly as given (see
    :mod:`crossrank.metadata`).

    Args:
        connection: Where the collection lives.
        encoder: Embeds texts and queries; its model name and dimension are recorded in
            the collection and checked when it is opened.
        client: An existing ``chromadb`` client to use instead of making one.
        named: Whether the caller chose ``encoder`` (rather than taking the default); only
            then may a collection without a recorded model be opened.

    Example:
        >>> collection = Collection(Connection(in_memory=True), Encoder())
        >>> collection.upsert(["a"], ["Paris is in France."], [{"source": "geo.txt"}])
        >>> collection.query(collection.encoder.embed_query("France"), k=1)[0].id
        'a'
    """

    def __init__(
        self, connection: Connection, encoder: Embedder, *, client: Any = None, named: bool = True
    ) -> None:
        self.connection = connection
        self.encoder = encoder
        self.named = named
        self.client = client or _make_client(connection)  # a bad path or server fails here
        self._handle: Any = None
        self.space = "cosine"  # the collection's distance, once opened
        self.foreign = False  # once opened: it records no crossrank model (another library
        # built it, or a framework's index brought the vectors), so others may write to it

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.connection.collection

    @contextmanager
    def _errors(self, writing: bool = False) -> Iterator[None]:
        """Chroma's and the network's exceptions, as crossrank's own errors."""
        import chromadb.errors as chroma

        try:
            yield
        except CollectionMismatchError:
            raise
        except (chroma.InvalidArgumentError, chroma.InvalidDimensionException, ValueError) as error:
            # Chroma checks arguments (filters, metadata values) in Python, with ValueError.
            if "dimension" in str(error):
                raise CollectionMismatchError(f"{self.connection.describe()}: {error}") from error
            raise ValueError(f"{self.connection.describe()}: {error}") from error
        except chroma.ChromaError as error:
            action = "write to" if writing else "read"
            raise StoreError(
                f"cannot {action} {self.connection.describe()} ({error})"
                + (": is it read-only, full, or locked?" if writing else "")
            ) from error
        except Exception as error:
            if not _is_network_error(error):
                raise
            raise StoreError(
                f"lost the Chroma server {self.connection.host}:{self.connection.port} "
                f"({type(error).__name__}: {error}): is it still running?"
            ) from error

    def _open(self, create: bool = False) -> Any:
        """The Chroma collection, checked against the encoder; None if it does not exist."""
        if self._handle is not None:
            return self._handle
        import chromadb.errors

        with self._errors(writing=create):
            try:
                handle = self.client.get_collection(self.name, embedding_function=None)
            except chromadb.errors.NotFoundError:
                if not create:
                    return None
                handle = self.client.get_or_create_collection(
                    self.name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={**self._schema(), VERSION_KEY: uuid.uuid4().hex},
                    embedding_function=None,
                )
        self._check(handle)
        self._handle = handle
        return handle

    def _schema(self) -> dict[str, Any]:
        if not self.encoder.model_name:  # the callers bring the vectors: no model to record
            return {}
        schema = {MODEL_KEY: self.encoder.model_name, DIMENSION_KEY: self.encoder.dimension}
        prompts = getattr(self.encoder, "prompts", None) or {}
        return {**schema, **{PROMPT_KEYS[role]: prompts[role] for role in prompts}}

    def _check(self, handle: Any) -> None:
        found = handle.metadata or {}
        configuration = getattr(handle, "configuration", None) or {}
        self.space = (configuration.get("hnsw") or {}).get("space") or found.get("hnsw:space", "l2")
        self.foreign = MODEL_KEY not in found
        if not self.encoder.model_name:
            return  # no model to check against: Chroma refuses vectors of another dimension
        if MODEL_KEY not in found:
            self._check_foreign(handle)
            return
        if found.get(MODEL_KEY) == self.encoder.model_name:
            if found.get(DIMENSION_KEY) == self.encoder.dimension:
                self._check_prompts(found)
                return
        raise CollectionMismatchError(
            f"{self.connection.describe()} was built with model {found.get(MODEL_KEY)!r} "
            f"(dimension {found.get(DIMENSION_KEY)}), not {self.encoder.model_name!r} "
            f"(dimension {self.encoder.dimension}): open it with that model, or index into "
            "another collection"
        )

    def _check_prompts(self, found: Mapping[str, Any]) -> None:
        """The encoder's prompts must be those the collection was written with (a collection
        from before prompts were recorded records none, and is not checked)."""
        prompts = getattr(self.encoder, "prompts", None) or {}
        for role, key in PROMPT_KEYS.items():
            if key in found and found[key] != prompts.get(role, ""):
                raise CollectionMismatchError(
                    f"{self.connection.describe()} was written with {role} prompt "
                    f"{found[key]!r}, not {prompts.get(role, '')!r}: open it with "
                    f"{role}_prompt={found[key]!r} (CLI: --{role}-prompt), or index into "
                    "another collection"
                )

    def _check_foreign(self, handle: Any) -> None:
        """A collection another library built: the named model's dimension must fit it."""
        where = self.connection.describe()
        if not self.named:
            raise CollectionMismatchError(
                f"{where} records no embedding model (another library built it?): name the "
                "model its vectors came from, e.g. Store(..., encoder="
                "'sentence-transformers/all-MiniLM-L6-v2') or crossrank --model NAME"
            )
        with self._errors():
            sample = handle.get(limit=1, include=["embeddings"])["embeddings"]
        if sample is not None and len(sample) and len(sample[0]) != self.encoder.dimension:
            raise CollectionMismatchError(
                f"{where} holds vectors of dimension {len(sample[0])}, but model "
                f"{self.encoder.model_name!r} makes dimension {self.encoder.dimension}: name "
                "the model the collection was built with"
            )

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers (the collection may not exist)."""
        with self._errors():
            self.client.heartbeat()

    def exists(self) -> bool:
        """Whether the collection exists (checking it against the encoder if it does)."""
        return self._open() is not None

    def count(self) -> int:
        """Number of records; 0 when the collection does not exist yet."""
        handle = self._open()
        if handle is None:
            return 0
        with self._errors():
            return int(handle.count())

    @property
    def uid(self) -> str | None:
        """Chroma's id of the collection (a collection made again gets a new one)."""
        handle = self._open()
        return None if handle is None else str(handle.id)

    def version(self) -> str | None:
        """A token that changes with every write through crossrank, in any process."""
        return self._metadata().get(VERSION_KEY)

    def _metadata(self) -> dict[str, Any]:
        """The collection's metadata as stored now (another process may have changed it)."""
        if self._open() is None:
            return {}
        with self._errors():
            metadata = self.client.get_collection(self.name, embedding_function=None).metadata
        return dict(metadata or {})

    def changes(self, since: int) -> Changes:
        """Records written and ids deleted after ``since`` (ns since the epoch).

        Writes through crossrank are found by the time stored on each record, deletions in
        the collection's deletion log; both cost in proportion to what changed.
        """
        log = _deletion_log(self._metadata())
        deleted = [i for stamp, ids in log["entries"] if stamp > since for i in ids]
        found = self.get(
            where={WRITTEN_KEY: {"$gt": since}}, include=["documents", "metadatas"], decode=False
        )
        written = [int(meta[WRITTEN_KEY]) for meta in found["metadatas"]]
        stamps = written + [stamp for stamp, _ in log["entries"]]
        return Changes(
            ids=found["ids"],
            texts=[
                record_text(text, meta)
                for text, meta in zip(found["documents"], found["metadatas"], strict=True)
            ],
            deleted=deleted,
            complete=log["floor"] <= max(since, 0),
            latest=max(stamps, default=0),
        )

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Store records, replacing any with the same id; embeds ``texts`` unless given.

        Every record's metadata is checked before anything is written (see
        :func:`crossrank.metadata.to_chroma`), so a bad value loses nothing.
        """
        if not len(ids) == len(texts) == len(metadatas):
            raise ValueError(
                f"{len(ids)} ids, {len(texts)} texts and {len(metadatas)} metadatas: "
                "need one of each per record"
            )
        stored = [to_chroma(meta) for meta in metadatas]
        if embeddings is None:
            embeddings = self.encoder.embed(list(texts))
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(ids):
            raise ValueError(f"need one embedding per text, got shape {embeddings.shape}")
        handle = self._open(create=True)
        step = self.client.get_max_batch_size()
        self._bump()  # before as well as after: a write killed halfway still shows
        with self._errors(writing=True):
            # Chroma merges a record's old metadata keys into an upsert; None removes one.
            new = dict(zip(ids, stored, strict=True))
            for batch in _batches(list(ids), step):
                old = handle.get(ids=batch, include=["metadatas"])
                for id_, meta in zip(old["ids"], old["metadatas"], strict=True):
                    new[id_].update(dict.fromkeys((meta or {}).keys() - new[id_].keys()))
            for begin in range(0, len(ids), step):
                end = begin + step
                stamp = time.time_ns()
                for meta in stored[begin:end]:
                    meta[WRITTEN_KEY] = stamp
                handle.upsert(
                    ids=list(ids[begin:end]),
                    embeddings=embeddings[begin:end],
                    documents=list(texts[begin:end]),
                    metadatas=stored[begin:end],
                )
        self._bump()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove records by id (unknown ids are ignored)."""
        handle = self._open()
        if handle is None or not ids:
            return
        step = self.client.get_max_batch_size()
        self._bump()
        with self._errors(writing=True):
            for begin in range(0, len(ids), step):
                handle.delete(ids=list(ids[begin : begin + step]))
        self._bump(deleted=list(ids))

    def _bump(self, deleted: Sequence[str] = ()) -> None:
        # Chroma refuses a modify that names the legacy "hnsw:" keys, even unchanged; the
        # distance lives in the collection's configuration, which modify leaves alone.
        current = self._metadata()
        kept = {k: v for k, v in current.items() if not k.startswith("hnsw:")}
        metadata = {**kept, VERSION_KEY: uuid.uuid4().hex}
        if deleted:
            log = _deletion_log(current)
            entries = [*log["entries"], [time.time_ns(), list(deleted)]]
            while sum(len(ids) for _, ids in entries) > LOGGED_DELETIONS:
                log["floor"] = entries.pop(0)[0]  # readers from before this read everything
            metadata[DELETED_KEY] = json.dumps({"floor": log["floor"], "entries": entries})
        with self._errors(writing=True):
            self._handle.modify(metadata=metadata)

    def get(
        self,
        ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = ("documents", "metadatas"),
        decode: bool = True,
    ) -> dict[str, Any]:
        """Chroma's ``get`` (``ids``, and what ``include`` names); empty if no collection.

        Metadata comes back as the user gave it (see :mod:`crossrank.metadata`);
        ``decode=False`` returns what Chroma holds (e.g. a LlamaIndex node's JSON).
        """
        handle = self._open()
        if handle is None:
            return {"ids": [], **{key: [] for key in include}}
        if ids is None and include:
            # Chroma 1.5 fails to return the metadata of more than ~32k records in one call
            # ("too many SQL variables"): find the ids first, then read them in batches.
            ids = self.get(where=where, where_document=where_document, include=[])["ids"]
            where = where_document = None
        found: dict[str, Any] = {"ids": [], **{key: [] for key in include}}
        batches = [None] if ids is None else _batches(list(ids), self.client.get_max_batch_size())
        with self._errors():
            for batch in batches:
                part = handle.get(
                    ids=batch,
                    where=dict(where) if where else None,
                    where_document=dict(where_document) if where_document else None,
                    include=list(include),
                )
                for key in found:
                    found[key].extend(part[key] if part[key] is not None else [])
        if "metadatas" in found and decode:
            if "documents" in found:
                found["documents"] = [
                    record_text(text, meta)
                    for text, meta in zip(found["documents"], found["metadatas"], strict=True)
                ]
            found["metadatas"] = [from_chroma(meta) for meta in found["metadatas"]]
        return found

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored."""
        return set(self.get(ids, include=[])["ids"])

    def query(
        self,
        vector: np.ndarray,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` records nearest to ``vector``, best first, scored by cosine similarity."""
        handle = self._open()
        if handle is None:
            return []
        include = ["documents", "metadatas", "distances"]
        if self.space != "cosine":  # l2 or ip: cosine from the vectors themselves
            include.append("embeddings")
        with self._errors():  # no count() first: Chroma counts by a scan (23 ms at 100k)
            result = handle.query(
                query_embeddings=[vector],
                n_results=k,
                where=dict(where) if where else None,
                where_document=dict(where_document) if where_document else None,
                include=include,
            )
        if self.space == "cosine":
            scores = [1.0 - float(distance) for distance in result["distances"][0]]
        else:
            scores = [float(score) for score in _cosine(vector, result["embeddings"][0])]
        return [
            Hit(id_, record_text(text, meta), from_chroma(meta), retrieval_score=score)
            for id_, text, meta, score in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                scores,
                strict=True,
            )
        ]

    def embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """The stored embeddings of ``ids``, one row each, in that order."""
        if not ids:
            width = self.encoder.dimension if self.encoder.model_name else 0
            return np.zeros((0, width), dtype=np.float32)
        found = self.get(ids, include=["embeddings"])
        rows = dict(zip(found["ids"], found["embeddings"], strict=True))
        missing = [chunk_id for chunk_id in ids if chunk_id not in rows]
        if missing:
            raise KeyError(f"{len(missing)} chunk ids are not in the store, e.g. {missing[0]!r}")
        return np.asarray([rows[chunk_id] for chunk_id in ids], dtype=np.float32)


def _deletion_log(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``{"floor": T, "entries": [[time, ids], ...]}``: deletions after T, oldest first."""
    return dict(json.loads(metadata.get(DELETED_KEY) or '{"floor": 0, "entries": []}'))


def _cosine(vector: np.ndarray, rows: Any) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float64).reshape(-1, len(vector))
    query = np.asarray(vector, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    return np.asarray(matrix @ query / np.maximum(norms, 1e-12))


def _batches(ids: list[str], step: int) -> list[list[str]]:
    return [ids[begin : begin + step] for begin in range(0, len(ids), step)]


def _is_network_error(error: Exception) -> bool:
    # httpx is chromadb's HTTP client; its connection and timeout errors mean a lost server.
    return type(error).__module__.startswith(("httpx", "httpcore")) or isinstance(
        error, ConnectionError
    )


def _time_out(client: Any) -> None:
    """Give chromadb's HTTP client time limits: it makes one that waits forever, and has no
    setting for it, so a Chroma server that hangs would hang every request behind it."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(SERVER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    else:  # a chromadb that changed its insides: say so rather than hang unnoticed
        logger.warning("cannot set time limits on chromadb's HTTP client")


def _make_client(connection: Connection) -> Any:
    import chromadb

    # Default settings on purpose: chromadb allows one in-memory system per process, and
    # it refuses a second client with other settings (e.g. a user's plain EphemeralClient).
    if connection.host:
        try:
            client = chromadb.HttpClient(
                host=connection.host, port=connection.port, headers=dict(connection.headers)
            )
        except Exception as error:  # connection refused, 401/403 from an auth proxy...
            raise StoreError(
                f"cannot use the Chroma server at {connection.host}:{connection.port}: {error}"
            ) from error
        _time_out(client)
        return client
    if connection.in_memory:
        return chromadb.EphemeralClient()
    path = connection.path
    if Path(path).exists() and not Path(path).is_dir():
        raise StoreError(f"{path} is a file, not a database folder: pass a folder path")
    try:
        return chromadb.PersistentClient(path=str(path))
    except Exception as error:  # chromadb raises bare Exceptions from its Rust core
        raise StoreError(f"cannot open the Chroma database at {path}: {error}") from error

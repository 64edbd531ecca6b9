"""Indexing on Ray Data: many workers embed into one Chroma server, as ``crossrank index`` does.

The steps are :mod:`crossrank.indexer`'s own functions; this module only decides where each
runs. Ray tasks read files (or take a dataset's documents), cut them into chunks and look up
which chunks are stored already and which a changed file no longer has; an actor pool of
:class:`~crossrank.Encoder` workers (CPU or GPU) embeds the new chunks and writes them to
the Chroma server in batches; the driver lists the files, then removes stale chunks and the
chunks of deleted files once every worker is done (one writer of the deletion log, which
keyword indexes read). The collection holds exactly what ``crossrank index`` would write:
the same ids, metadata, write stamps and version token, so the keyword index,
``--keyword-dir`` replicas and incremental re-indexing work unchanged.

A rerun is incremental and resumable: stored chunks are never embedded again, so a driver
killed midway and run again finishes the job, and a worker that Ray retries writes the same
ids again (a replace, never a duplicate).

Needs ``pip install "crossrank[ray]"``.

Example:
    >>> import crossrank.ray
    >>> store = Store(host="chroma.internal", port=8000)
    >>> crossrank.ray.index(["/shared/docs"], store=store, workers=8, gpus_per_worker=1)
    IndexReport(files=120000, chunks=2400000, embedded=2400000, removed=0)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._extras import require
from .collection import Collection
from .encoder import Encoder
from .errors import IngestError
from .hit import CHUNK_INDEX, END_CHAR, PAGE, SECTION, SOURCE, START_CHAR
from .indexer import (
    BATCH,
    Indexer,
    IndexReport,
    chunk_size_for,
    deleted_ids,
    indexed_folders,
    stale_ids,
    unstored,
    write,
)
from .ingest import MAX_FILE_MB, chunk_document, find_files
from .metadata import RESERVED, to_chroma
from .readers import read
from .settings import Connection
from .store import Store

logger = logging.getLogger(__name__)

FILES_PER_TASK = 16  # files one read task takes: enough to amortize a task, few to lose
GPU_BATCHES = 4  # a GPU worker's call takes this many of the local indexer's steps
READ_CPUS = 0.5  # Ray CPUs a read task reserves: reading is light next to embedding
TEXT, CHUNK_KEYS = "text", (SOURCE, CHUNK_INDEX, START_CHAR, END_CHAR, SECTION, PAGE)

# What one row of the pipeline is: a chunk to embed, a chunk stored already, a stale
# chunk to remove, a file read, or a file or document skipped (``text`` says why).
NEW, STORED, STALE, READ, SKIPPED = "new", "stored", "stale", "read", "skipped"


def index(
    source: Iterable[str | Path] | Any,
    *,
    store: Store,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float | None = None,
    address: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int = 32,
    max_file_mb: float = MAX_FILE_MB,
    batch_size: int | None = None,
    progress: bool = False,
) -> IndexReport:
    """Index files and folders, or a Ray dataset of documents, on a Ray cluster.

    The same collection as :meth:`crossrank.Store.index` writes: unchanged files embed
    nothing, changed files have their chunks replaced, and the chunks of files deleted from
    an indexed folder are removed. An unreadable file is skipped with a warning naming it.

    Args:
        source: Files and folders (every worker must see them at the same paths, e.g. a
            shared filesystem), or a ``ray.data.Dataset`` of documents: a ``text`` and a
            ``source`` column (the document's id, stored as each chunk's source), and any
            other columns as metadata of each chunk. A document whose text changed has its
            chunks replaced; a document missing from the dataset is left alone.
        store: The store to write, on a Chroma server (``Store(host=..., port=...)``);
            its encoder embeds, on every worker.
        workers: Embedding workers (Ray actors).
        gpus_per_worker: GPUs each worker takes (0: embed on CPUs).
        cpus_per_worker: CPUs each worker takes and the threads it embeds with; None: on a
            GPU one, on CPUs the machine's cores shared by the workers.
        address: The Ray cluster (``"auto"``, ``"ray://head:10001"``); None: the one
            already started in this process, else ``RAY_ADDRESS``'s, else a local one.
        chunk_size: Tokens per chunk; None: the encoder's default (see
            :meth:`crossrank.Store.index`).
        chunk_overlap: Tokens shared by consecutive chunks.
        max_file_mb: Larger files are skipped with a warning.
        batch_size: Chunks a worker embeds and writes per call (a killed worker redoes
            one); None: 256 on CPUs (``crossrank index``'s step), 1024 on a GPU.
        progress: Show Ray Data's progress bars.

    Raises:
        ImportError: Ray is not installed (the message names ``crossrank[ray]``).
        ValueError: ``store`` is an embedded or in-memory store, which workers on other
            machines cannot write, or an argument or the dataset's columns are wrong.
        StoreError: The Chroma server does not answer (before any work starts).
        IngestError: A path does not exist, holds no supported file, or no file could be read.

    Example:
        >>> crossrank.ray.index(ray.data.read_parquet("s3://corpus/"), store=store, workers=4)
    """
    ray = require("ray", "ray")
    _check_arguments(store, workers, gpus_per_worker, cpus_per_worker, batch_size)
    store.collection.ping()  # an unreachable server is refused before any work
    encoder = Indexer(store.collection).encoder
    size = chunk_size_for(encoder, chunk_size)
    if not 0 <= chunk_overlap < size:
        raise ValueError(f"chunk_overlap must be in 0-{size - 1} (under chunk_size), got "
                         f"{chunk_overlap}")  # fmt: skip
    store.collection.exists()  # refuses a collection built with another model, before work
    dataset: Any = source if _is_dataset(source) else None
    files: list[str] = []
    paths: list[Any] = []
    if dataset is not None:
        _check_columns(dataset)
    else:
        paths = list(source)
        files = [str(path) for path in find_files(paths)]
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True)
    from ray.data import ActorPoolStrategy, DataContext

    DataContext.get_current().enable_progress_bars = progress
    recorded = _Recorded(encoder)
    read_args = {
        "connection": store.connection,
        "recorded": recorded,
        "tokenizer": encoder.model.tokenizer,
        "size": size,
        "overlap": chunk_overlap,
    }
    if dataset is None:
        # Blocks enough for every worker to get some (each block goes to one worker).
        blocks = min(len(files), max(-(-len(files) // FILES_PER_TASK), 4 * workers))
        items = [{"path": path} for path in files]
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        chunks = dataset.map_batches(
            _chunk_files,
            fn_kwargs={**read_args, "max_file_mb": max_file_mb},
            batch_size=None,  # a block: FILES_PER_TASK files, or fewer to feed every worker
            num_cpus=READ_CPUS,
        )
    else:
        chunks = dataset.map_batches(
            _chunk_documents, fn_kwargs=read_args, batch_size=None, num_cpus=READ_CPUS
        )
    # Chunks per worker call, embedded then written together: the local indexer's step
    # (a killed worker loses one), more on a GPU, in whole forward passes.
    rows = batch_size or BATCH * (GPU_BATCHES if gpus_per_worker else 1)
    rows = -(-rows // encoder.batch_size) * encoder.batch_size
    written = chunks.map_batches(
        _EmbedAndWrite,
        fn_constructor_kwargs={
            "connection": store.connection,
            "encoder": encoder,
            "threads": _threads(ray, cpus_per_worker, gpus_per_worker, workers),
        },
        batch_size=rows,
        compute=ActorPoolStrategy(size=workers),
        num_gpus=gpus_per_worker or None,
        num_cpus=_worker_cpus(ray, cpus_per_worker, gpus_per_worker, workers),
    )
    return _finish(store.collection, written, files, paths)


class _Recorded:
    """The encoder as the collection records it (name, dimension, prompts), for read tasks:
    they check the collection and look up chunks, and never load the model."""

    def __init__(self, encoder: Encoder) -> None:
        self.model_name = encoder.model_name
        self.dimension = encoder.dimension
        prompts = getattr(encoder, "prompts", None)
        if prompts is not None:
            self.prompts = dict(prompts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("read tasks do not embed")  # pragma: no cover

    def embed_query(self, query: str) -> np.ndarray:
        raise RuntimeError("read tasks do not embed")  # pragma: no cover


def _check_arguments(
    store: Store, workers: int, gpus: float, cpus: float | None, batch_size: int | None
) -> None:
    if not store.connection.host:
        where = "memory" if store.connection.in_memory else f"the folder {store.connection.path}"
        raise ValueError(
            f"Ray workers write to the store from other processes and machines, which cannot "
            f"write {where}: serve the collection with `chroma run --path DIR` and index into "
            "that server (Store(host=..., port=...); CLI: --chroma http://HOST:PORT)"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
    if gpus < 0:
        raise ValueError(f"gpus_per_worker must be >= 0, got {gpus}")
    if cpus is not None and cpus <= 0:
        raise ValueError(f"cpus_per_worker must be > 0, got {cpus}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


def _is_dataset(source: Any) -> bool:
    return type(source).__module__.startswith("ray.data") and hasattr(source, "map_batches")


def _check_columns(dataset: Any) -> None:
    names = list(dataset.schema().names)
    missing = [name for name in (TEXT, SOURCE) if name not in names]
    if missing:
        raise ValueError(
            f"the dataset has columns {names}, without {' and '.join(map(repr, missing))}: "
            f"documents need their text in {TEXT!r} and their id (a path, a URL...) in "
            f"{SOURCE!r}; other columns become each chunk's metadata"
        )
    clashing = [n for n in names if n in CHUNK_KEYS[1:] or n.startswith(RESERVED)]
    if clashing:
        raise ValueError(
            f"dataset columns {clashing} would overwrite what crossrank stores with each "
            f"chunk ({', '.join(CHUNK_KEYS[1:])} and {RESERVED!r} keys): rename them"
        )


def _threads(ray: Any, cpus: float | None, gpus: float, workers: int) -> int:
    """Threads a worker embeds with: its CPUs, else its share of its machine's CPUs."""
    if cpus is not None:
        return max(1, round(cpus))
    if gpus:
        return 1
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]] or [1]
    per_node = -(-workers // len([cpus for cpus in nodes if cpus]) or 1)
    return max(1, int(max(nodes)) // per_node)


def _worker_cpus(ray: Any, cpus: float | None, gpus: float, workers: int) -> float:
    """The Ray CPUs a worker reserves: what it was given, else a share that leaves the read
    tasks room (workers that took every CPU would wait forever for chunks)."""
    if cpus is not None:
        return cpus
    if gpus:
        return 1.0
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return min(1.0, max(total - READ_CPUS, READ_CPUS) / workers)


def _chunk_files(
    batch: dict[str, np.ndarray],
    connection: Connection,
    recorded: _Recorded,
    tokenizer: Any,
    size: int,
    overlap: int,
    max_file_mb: float,
) -> dict[str, list[Any]]:
    """Read and chunk a batch of files (a Ray task): rows of :data:`NEW`, :data:`STORED`,
    :data:`STALE`, :data:`READ` and :data:`SKIPPED`."""
    rows = _Rows()
    collection = Collection(connection, recorded)  # type: ignore[arg-type]
    for path in batch["path"]:
        try:
            extracted = read(Path(path), max_file_mb)
        except IngestError as error:
            rows.add(SKIPPED, "", str(path), str(error))
            continue
        chunks = chunk_document(
            str(path), extracted.text, tokenizer, size, overlap, pages=extracted.pages
        )
        rows.add_document(collection, str(path), chunks, {})
    return rows.columns


def _chunk_documents(
    batch: dict[str, np.ndarray],
    connection: Connection,
    recorded: _Recorded,
    tokenizer: Any,
    size: int,
    overlap: int,
) -> dict[str, list[Any]]:
    """Chunk a batch of a dataset's documents (a Ray task), as :func:`_chunk_files` files."""
    rows = _Rows()
    collection = Collection(connection, recorded)  # type: ignore[arg-type]
    extra = [name for name in batch if name not in (TEXT, SOURCE)]
    for i, (text, source) in enumerate(zip(batch[TEXT], batch[SOURCE], strict=True)):
        name = str(source)
        metadata = {key: _plain(batch[key][i]) for key in extra}
        problem = _document_problem(text, source, metadata)
        if problem:
            rows.add(SKIPPED, "", name, f"document {name!r}: {problem}")
            continue
        chunks = chunk_document(name, str(text), tokenizer, size, overlap)
        rows.add_document(collection, name, chunks, metadata)
    return rows.columns


def _document_problem(text: Any, source: Any, metadata: Mapping[str, Any]) -> str:
    if not isinstance(source, str) or not source:
        return "its source must be a non-empty string"
    if not isinstance(text, str):
        return f"its text is {type(text).__name__}, not a string"
    if not text.strip():
        return "empty text, nothing to index"
    try:
        to_chroma(metadata)
    except ValueError as error:
        return str(error)
    return ""


def _plain(value: Any) -> Any:
    """A dataset cell as plain Python (numpy scalars and arrays to numbers and lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class _Rows:
    """The columns of a read task's output."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {"kind": [], "id": [], "source": [], TEXT: [],
                                              "metadata": []}  # fmt: skip

    def add(self, kind: str, id_: str, source: str, text: str = "", meta: str = "") -> None:
        for column, value in zip(self.columns.values(), (kind, id_, source, text, meta),
                                 strict=True):  # fmt: skip
            column.append(value)

    def add_document(
        self, collection: Collection, source: str, chunks: list[Any], extra: Mapping[str, Any]
    ) -> None:
        self.add(READ, "", source)
        for chunk_id in stale_ids(collection, source, {chunk.id for chunk in chunks}):
            self.add(STALE, chunk_id, source)
        todo = {chunk.id for chunk in unstored(collection, chunks)}
        seen: set[str] = set()
        for chunk in chunks:
            if chunk.id in seen:
                continue
            seen.add(chunk.id)
            if chunk.id in todo:
                meta = json.dumps({**extra, **chunk.metadata}, ensure_ascii=False)
                self.add(NEW, chunk.id, source, chunk.text, meta)
            else:
                self.add(STORED, chunk.id, source)


class _EmbedAndWrite:
    """A Ray Data worker: embeds a batch's new chunks and writes them to the collection."""

    def __init__(self, connection: Connection, encoder: Encoder, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS to the reserved CPUs
        self.collection = Collection(connection, encoder.load())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        new = np.asarray(batch["kind"] == NEW)
        if new.any():
            write(
                self.collection,
                [str(i) for i in batch["id"][new]],
                [str(t) for t in batch[TEXT][new]],
                [json.loads(m) for m in batch["metadata"][new]],
            )
        return {
            "kind": batch["kind"],
            "id": batch["id"],
            "source": batch["source"],
            TEXT: np.where(batch["kind"] == SKIPPED, batch[TEXT], ""),
        }


def _finish(
    collection: Collection, written: Any, files: list[str], paths: list[Any]
) -> IndexReport:
    """Run the pipeline, then remove stale chunks and those of deleted files (here, so that
    the deletion log has one writer); the counts of what was done."""
    counts = dict.fromkeys((NEW, STORED, STALE, READ, SKIPPED), 0)
    stale: list[str] = []
    sources: set[str] = set()
    for batch in written.iter_batches(batch_size=None, batch_format="numpy"):
        for kind, id_, source, text in zip(
            batch["kind"], batch["id"], batch["source"], batch[TEXT], strict=True
        ):
            counts[str(kind)] += 1
            if kind == STALE:
                stale.append(str(id_))
            elif kind == SKIPPED:
                logger.warning("skipping %s", text)
            elif kind == READ:
                sources.add(str(source))
    if not counts[READ]:
        what = f"the {len(files)} files found" if files else "the dataset's documents"
        raise IngestError(f"none of {what} could be indexed (see warnings)")
    gone = deleted_ids(collection, indexed_folders(paths))
    collection.delete(stale + gone)
    return IndexReport(
        files=len(sources),
        chunks=counts[NEW] + counts[STORED],
        embedded=counts[NEW],
        removed=len(stale) + len(gone),
    )


__all__ = ["index"]

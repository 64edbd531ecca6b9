"""The indexer: files to chunks to a collection, embedding only what changed.

Indexing is a few steps, each one function here: read a file (:func:`crossrank.readers.read`),
cut it into chunks with stable ids (:func:`crossrank.ingest.chunk_document`), find the chunks
a changed file no longer has (:func:`stale_ids`) and those not stored yet
(:func:`unstored`), embed and write them (:func:`write`), and find the chunks of deleted
files (:func:`deleted_ids`). :class:`Indexer` runs them in this process;
:func:`crossrank.ray.index` runs the same functions on a Ray cluster, so the two write the
same collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .collection import Collection
from .encoder import Encoder
from .hit import SOURCE, Chunk
from .ingest import MAX_FILE_MB, chunk_document, iter_documents

BATCH = 256  # chunks embedded and written per step (a progress bar step, a crash loses one)


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did."""

    files: int
    chunks: int
    embedded: int
    removed: int


def chunk_size_for(encoder: Encoder, chunk_size: int | None) -> int:
    """Tokens per chunk: ``chunk_size``, checked against what the model reads, or its default."""
    if chunk_size is not None and chunk_size > encoder.limit_tokens:
        raise ValueError(
            f"chunk_size {chunk_size} is more than embedding model {encoder.model_name!r} "
            f"reads per passage ({encoder.limit_tokens} tokens, prompt and special tokens "
            f"aside): pass at most {encoder.limit_tokens}, or leave it unset"
        )
    return chunk_size or encoder.chunk_tokens


def stale_ids(collection: Collection, source: str, keep: set[str]) -> list[str]:
    """The stored chunks of ``source`` that are not in ``keep`` (its chunks now)."""
    stored = collection.get(where={SOURCE: source}, include=[])["ids"]
    return [chunk_id for chunk_id in stored if chunk_id not in keep]


def unstored(collection: Collection, chunks: Sequence[Chunk]) -> list[Chunk]:
    """The chunks whose ids are not stored yet, each id once."""
    unique = list({chunk.id: chunk for chunk in chunks}.values())
    known = collection.existing([chunk.id for chunk in unique])
    return [chunk for chunk in unique if chunk.id not in known]


def write(
    collection: Collection,
    ids: Sequence[str],
    texts: Sequence[str],
    metadatas: Sequence[Mapping[str, Any]],
) -> None:
    """Embed ``texts`` with the collection's encoder and store them; an id stored again is
    replaced, so writing a batch twice (a retried worker) changes nothing."""
    collection.upsert(ids, texts, metadatas, collection.encoder.embed(list(texts)))


def deleted_ids(collection: Collection, folders: Sequence[Path]) -> list[str]:
    """The stored chunks of files that were inside ``folders`` and no longer exist."""
    if not folders:
        return []
    stored = collection.get(include=["metadatas"])
    return [
        chunk_id
        for chunk_id, meta in zip(stored["ids"], stored["metadatas"], strict=True)
        if _deleted_from(str((meta or {}).get(SOURCE, "")), list(folders))
    ]


def indexed_folders(paths: Iterable[str | Path]) -> list[Path]:
    """The folders among ``paths``: files deleted from them lose their chunks."""
    return [Path(p).expanduser().resolve() for p in paths if Path(p).expanduser().is_dir()]


class Indexer:
    """Reads files, cuts them into chunks, and keeps a collection in step with them.

    Args:
        collection: Where the chunks go; its encoder embeds them and its tokenizer sizes them.

    Example:
        >>> Indexer(collection).index(["docs/"])
        IndexReport(files=12, chunks=240, embedded=240, removed=0)
    """

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    @property
    def encoder(self) -> Encoder:
        """The collection's encoder, which must be a sentence-transformers one to chunk."""
        encoder = self.collection.encoder
        if not isinstance(encoder, Encoder):
            raise TypeError(
                f"chunking files needs a sentence-transformers Encoder (its tokenizer sizes "
                f"the chunks), not {type(encoder).__name__}: add texts with Store.add_texts"
            )
        return encoder

    def add(self, chunks: Sequence[Chunk], *, progress: bool = False) -> int:
        """Embed and store the chunks not yet stored; return how many were embedded."""
        todo = unstored(self.collection, chunks)
        step = min(self.collection.client.get_max_batch_size(), BATCH)
        from tqdm.auto import tqdm

        with tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress) as bar:
            for begin in range(0, len(todo), step):
                batch = todo[begin : begin + step]
                write(
                    self.collection,
                    [chunk.id for chunk in batch],
                    [chunk.text for chunk in batch],
                    [chunk.metadata for chunk in batch],
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
        """Index files and folders (text, HTML, source code, PDF, .docx), embedding what changed.

        Chunks of a file that changed since it was last indexed are replaced; an
        unchanged file embeds nothing; the chunks of files deleted from an indexed folder
        are removed (a file that still exists keeps its chunks, even if it cannot be read).

        Args:
            paths: Files and folders; folders are searched recursively.
            chunk_size: Tokens per chunk; None: the bi-encoder's limit, at most
                :data:`crossrank.encoder.CHUNK_TOKENS`.
            chunk_overlap: Tokens shared by consecutive chunks.
            max_file_mb: Larger files are skipped with a warning.
            progress: Show a progress bar.
        """
        paths = list(paths)
        encoder = self.encoder
        tokenizer = encoder.model.tokenizer
        size = chunk_size_for(encoder, chunk_size)
        files = removed = 0
        chunks: list[Chunk] = []
        for source, extracted in iter_documents(paths, max_file_mb):
            files += 1
            with encoder.lock:
                document = chunk_document(
                    source, extracted.text, tokenizer, size, chunk_overlap, pages=extracted.pages
                )
            stale = stale_ids(self.collection, source, {chunk.id for chunk in document})
            self.collection.delete(stale)
            removed += len(stale)
            chunks.extend(document)
        embedded = self.add(chunks, progress=progress)
        gone = deleted_ids(self.collection, indexed_folders(paths))
        self.collection.delete(gone)
        removed += len(gone)
        return IndexReport(files=files, chunks=len(chunks), embedded=embedded, removed=removed)


def _deleted_from(source: str, folders: list[Path]) -> bool:
    path = Path(source)
    return (
        bool(source)
        and any(path.is_relative_to(folder) for folder in folders)
        and not path.exists()
    )

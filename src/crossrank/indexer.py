"""The indexer: files to chunks to a collection, embedding only what changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
        unique = list({chunk.id: chunk for chunk in chunks}.values())
        known = self.collection.existing([chunk.id for chunk in unique])
        todo = [chunk for chunk in unique if chunk.id not in known]
        step = min(self.collection.client.get_max_batch_size(), BATCH)
        from tqdm.auto import tqdm

        with tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress) as bar:
            for begin in range(0, len(todo), step):
                batch = todo[begin : begin + step]
                self.collection.upsert(
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
            chunk_size: Tokens per chunk; None fills the bi-encoder's max_seq_length.
            chunk_overlap: Tokens shared by consecutive chunks.
            max_file_mb: Larger files are skipped with a warning.
            progress: Show a progress bar.
        """
        paths = list(paths)
        encoder = self.encoder
        tokenizer = encoder.model.tokenizer
        size = chunk_size or encoder.chunk_tokens
        files = removed = 0
        chunks: list[Chunk] = []
        for source, extracted in iter_documents(paths, max_file_mb):
            files += 1
            with encoder.lock:
                document = chunk_document(
                    source, extracted.text, tokenizer, size, chunk_overlap, pages=extracted.pages
                )
            removed += self._drop_stale(source, {chunk.id for chunk in document})
            chunks.extend(document)
        embedded = self.add(chunks, progress=progress)
        removed += self._drop_deleted([Path(p).resolve() for p in paths if Path(p).is_dir()])
        return IndexReport(files=files, chunks=len(chunks), embedded=embedded, removed=removed)

    def _drop_stale(self, source: str, keep: set[str]) -> int:
        stored = self.collection.get(where={SOURCE: source}, include=[])["ids"]
        stale = [chunk_id for chunk_id in stored if chunk_id not in keep]
        self.collection.delete(stale)
        return len(stale)

    def _drop_deleted(self, folders: list[Path]) -> int:
        if not folders:
            return 0
        stored = self.collection.get(include=["metadatas"])
        gone = [
            chunk_id
            for chunk_id, meta in zip(stored["ids"], stored["metadatas"], strict=True)
            if _deleted_from(str((meta or {}).get(SOURCE, "")), folders)
        ]
        self.collection.delete(gone)
        return len(gone)


def _deleted_from(source: str, folders: list[Path]) -> bool:
    path = Path(source)
    return (
        bool(source)
        and any(path.is_relative_to(folder) for folder in folders)
        and not path.exists()
    )

"""BM25 over a store's chunks (bm25s), derived from the Chroma collection and kept in sync."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .hit import Hit

if TYPE_CHECKING:
    from .store import Store

logger = logging.getLogger(__name__)

STATE_FILE = "crossrank.json"


@dataclass(frozen=True)
class _Built:
    retriever: Any
    ids: list[str]
    digest: str
    count: int  # the collection's chunk count when last checked


class BM25Index:
    """Lexical (BM25) retrieval over the chunks of a :class:`~crossrank.Store`.

    The Chroma collection is the only source of truth: this index is built from its chunk
    ids and texts, saved beside an embedded store (``<path>/bm25/<collection>``) and rebuilt
    when the collection changes. Writes through a ``Store`` (add, re-index, delete) mark it
    stale in this process and on disk; a saved index is used only if its chunk ids are
    exactly the collection's. Text is lower-cased, split into words, stemmed (PyStemmer)
    and stripped of English stop words, bm25s's standard pipeline.

    Args:
        store: The store whose chunks are searched.
        language: Stemmer language (PyStemmer's names), or None for no stemming.
    """

    def __init__(self, store: Store, *, language: str | None = "english") -> None:
        self.store = store
        self.language = language
        self._built: _Built | None = None
        self._lock = threading.Lock()  # one build at a time; searches share the result
        self._saveable = True  # False after a failed save (a read-only store)

    @property
    def folder(self) -> Path | None:
        """Where the index is saved, or None when the store is not an embedded one on disk."""
        if not self.store.persistent:
            return None
        return self.store.path / "bm25" / self.store.collection_name

    def invalidate(self) -> None:
        """Forget the index here and on disk (the store changed)."""
        self._built = None
        if self.folder is not None:
            (self.folder / STATE_FILE).unlink(missing_ok=True)

    def search(
        self,
        query: str,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks with the highest BM25 score for ``query`` (score > 0), best first.

        ``where``/``where_document`` are Chroma filters, applied by Chroma itself.
        """
        if not query or not query.strip():
            raise ValueError("query is empty: pass a question or search text")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        with self._lock:
            built = self._current()
        if not built.ids:
            return []
        import bm25s

        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer(), show_progress=False
        )
        mask = None
        if where or where_document:
            allowed = set(
                self.store.collection.get(
                    where=dict(where) if where else None,
                    where_document=dict(where_document) if where_document else None,
                    include=[],
                )["ids"]
            )
            mask = np.array([chunk_id in allowed for chunk_id in built.ids], dtype=np.float32)
        found, scores = built.retriever.retrieve(
            tokens, k=min(k, len(built.ids)), weight_mask=mask, show_progress=False, n_threads=1
        )
        ranked = [
            (built.ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0
        ]
        if not ranked:
            return []
        stored = self.store.collection.get(
            ids=[chunk_id for chunk_id, _ in ranked], include=["documents", "metadatas"]
        )
        rows = {
            chunk_id: (text or "", dict(meta or {}))
            for chunk_id, text, meta in zip(
                stored["ids"], stored["documents"], stored["metadatas"], strict=True
            )
        }
        return [
            Hit(chunk_id, *rows[chunk_id], retrieval_score=score, scores={"bm25": score})
            for chunk_id, score in ranked
            if chunk_id in rows
        ]

    def _stemmer(self) -> Any:
        if self.language is None:
            return None
        import Stemmer

        return Stemmer.Stemmer(self.language)

    def _current(self) -> _Built:
        """The index matching the collection now: kept, loaded from disk, or rebuilt."""
        count = self.store.count()
        built = self._built
        folder = self.folder if self._saveable else None
        on_disk = folder is not None and (folder / STATE_FILE).exists()
        if built is not None and built.count == count and (on_disk or folder is None):
            return built
        ids = self._ids()
        digest = _digest(ids)
        if built is not None and built.digest == digest:
            self._built = _Built(built.retriever, built.ids, digest, count)
            if folder is not None and not on_disk:
                self._save(self._built)
        else:
            self._built = self._load(digest, count) or self._build(count)
        return self._built

    def _ids(self) -> list[str]:
        return list(self.store.collection.get(include=[])["ids"])

    def _load(self, digest: str, count: int) -> _Built | None:
        if self.folder is None:
            return None
        try:
            state = json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
            if state.get("digest") != digest or state.get("language") != self.language:
                return None
            import bm25s

            retriever = bm25s.BM25.load(str(self.folder))
        except (OSError, ValueError):
            return None
        return _Built(retriever, list(state["ids"]), digest, count)

    def _build(self, count: int) -> _Built:
        import bm25s

        stored = self.store.collection.get(include=["documents"])
        ids = list(stored["ids"])
        texts = [text or "" for text in stored["documents"]]
        logger.info("building the BM25 index of %d chunks", len(ids))
        retriever = bm25s.BM25()
        if ids:
            tokens = bm25s.tokenize(
                texts, stopwords="en", stemmer=self._stemmer(), show_progress=False
            )
            retriever.index(tokens, show_progress=False)
        built = _Built(retriever, ids, _digest(ids), count)
        if self.folder is not None and self._saveable and ids:
            self._save(built)
        return built

    def _save(self, built: _Built) -> None:
        assert self.folder is not None
        try:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            built.retriever.save(str(self.folder))
            state = {"digest": built.digest, "language": self.language, "ids": built.ids}
            (self.folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        except OSError as error:  # a read-only store still searches, from memory
            self._saveable = False
            logger.warning("cannot save the BM25 index to %s: %s", self.folder, error)


def _digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()

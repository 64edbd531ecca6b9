"""BM25 over a collection's chunks (bm25s), derived from the Chroma collection and kept in sync."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .collection import Collection
from .hit import Hit
from .retrievers import check_search

logger = logging.getLogger(__name__)

STATE_FILE = "crossrank.json"


@dataclass(frozen=True)
class _Built:
    retriever: Any
    ids: list[str]
    version: str | None  # the collection's version token it was built from
    count: int  # and its record count (writers other than crossrank keep the version)


class BM25Index:
    """Lexical (BM25) retrieval over the chunks of a :class:`~crossrank.collection.Collection`.

    The Chroma collection is the only source of truth: this index is built from its chunk
    ids and texts, saved in ``folder`` when one is given, and rebuilt when the collection's
    version token (which every write through crossrank changes, in any process) or its
    record count differs from the one it was built from. Text is lower-cased, split into
    words, stemmed (PyStemmer) and stripped of English stop words, bm25s's standard pipeline.

    Args:
        collection: The collection whose chunks are searched.
        folder: Where to save the index (beside an embedded store); None keeps it in memory.
        language: Stemmer language (PyStemmer's names), or None for no stemming.

    Example:
        >>> BM25Index(collection).search("ValueError", 10)
    """

    name = "bm25"

    def __init__(
        self,
        collection: Collection,
        folder: Path | None = None,
        *,
        language: str | None = "english",
    ) -> None:
        self.collection = collection
        self.folder = folder
        self.language = language
        self._built: _Built | None = None
        self._lock = threading.Lock()  # one build at a time; searches share the result
        self._saveable = True  # False after a failed save (a read-only store)

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
        check_search(query, k)
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
                self.collection.get(
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
        stored = self.collection.get(
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
        version, count = self.collection.version(), self.collection.count()
        built = self._built
        if built is None or (built.version, built.count) != (version, count):
            built = self._built = self._load(version, count) or self._build(version)
        return built

    def _load(self, version: str | None, count: int) -> _Built | None:
        folder = self.folder
        if folder is None or version is None:
            return None
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            if (state.get("version"), len(state.get("ids", ()))) != (version, count):
                return None
            if state.get("language") != self.language:
                return None
            import bm25s

            retriever = bm25s.BM25.load(str(folder))
        except (OSError, ValueError):
            return None
        return _Built(retriever, list(state["ids"]), version, count)

    def _build(self, version: str | None) -> _Built:
        import bm25s

        stored = self.collection.get(include=["documents"])
        ids = list(stored["ids"])
        texts = [text or "" for text in stored["documents"]]
        logger.info("building the BM25 index of %d chunks", len(ids))
        retriever = bm25s.BM25()
        if ids:
            tokens = bm25s.tokenize(
                texts, stopwords="en", stemmer=self._stemmer(), show_progress=False
            )
            retriever.index(tokens, show_progress=False)
        built = _Built(retriever, ids, version, len(ids))
        if self.folder is not None and self._saveable and ids and version is not None:
            self._save(built)
        return built

    def _save(self, built: _Built) -> None:
        assert self.folder is not None
        try:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            built.retriever.save(str(self.folder))
            state = {"version": built.version, "language": self.language, "ids": built.ids}
            (self.folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        except OSError as error:  # a read-only store still searches, from memory
            self._saveable = False
            logger.warning("cannot save the BM25 index to %s: %s", self.folder, error)

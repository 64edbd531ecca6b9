"""BM25 over a collection's chunks (tantivy), kept in step with the Chroma collection."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from . import tracing
from .collection import WRITTEN_KEY, Collection
from .hit import Hit
from .metadata import record_text
from .retrievers import check_search

logger = logging.getLogger(__name__)

STATE = "crossrank:state"  # the id of the one document recording what the index reflects
MARGIN_NS = 10 * 10**9  # writes this much older than the newest seen are read again: a
# concurrent writer's batch stamped before another's but landing after it, or its clock lagging
WORDS = r"\w\w+"  # bm25s's (scikit-learn's) words: runs of two or more word characters
HEAP = 64 * 2**20  # the writer's memory; tantivy flushes a segment when it is full
STEP = 5000  # records read from Chroma at a time when (re)building
RECHECK_S = 5.0  # how stale a collection another library writes to may look (see below)


class BM25Index:
    """Lexical (BM25) retrieval over the chunks of a :class:`~crossrank.collection.Collection`.

    A tantivy index derived from the collection, the only source of truth. Before each
    search it compares the version token and record count it reflects with the
    collection's; when they differ it reads what changed since (records written after
    the newest it holds, ids in the collection's deletion log) and updates itself in
    proportion. It rebuilds from every record only when it cannot tell what changed: a new
    index, a collection made again, more deletions than the log keeps, or writes by
    another library (the count then disagrees: checked after each catch-up, and for a
    collection that records no crossrank model, whose writers may not change the version,
    at most once every ``recheck`` seconds: Chroma counts by a scan, 23 ms at 100k).

    So another library's writes reach keyword search within ``recheck`` seconds (dense
    search sees them at once). One that replaces records in place (same ids, same count)
    changes neither version nor count: call :meth:`rebuild` after it.

    With a ``folder`` the index is saved there (beside an embedded store), opened without
    rebuilding, and shared by every process using that folder: one updates it at a time
    (a file lock), the others reload it. A ``kill -9`` mid-update loses the uncommitted
    part only, which the next search reads again. Text is split into words, lower-cased,
    stripped of English stop words and stemmed (Snowball), as bm25s did before.

    Args:
        collection: The collection whose chunks are searched.
        folder: Where to keep the index; None keeps it in memory (built at first search).
        language: Stemmer language (Snowball's names, e.g. "french"), or None for none.
        recheck: Seconds between count checks of a collection that records no crossrank
            model (0: before every search).

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
        recheck: float = RECHECK_S,
    ) -> None:
        import tantivy

        self.collection = collection
        self.folder = folder
        self.language = language
        self.recheck = recheck
        self._counted = -math.inf  # when the count last agreed (time.monotonic())
        builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(WORDS))
        builder = builder.filter(tantivy.Filter.lowercase()).filter(
            tantivy.Filter.stopword("english")
        )
        if language is not None:
            builder = builder.filter(tantivy.Filter.stemmer(language))
        self._analyzer = builder.build()
        schema = tantivy.SchemaBuilder()
        schema.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
        schema.add_text_field("text", tokenizer_name="crossrank", index_option="freq")
        schema.add_text_field("state", stored=True, tokenizer_name="raw", index_option="basic")
        self._schema = schema.build()
        self._index: Any = None
        self._lock = threading.Lock()  # one catch-up at a time in this process

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
        with tracing.retrieving(self.name, k, query) as current:
            hits = self._search(query, k, where, where_document)
            current.retrieved(hits)
        return hits

    def _search(
        self,
        query: str,
        k: int,
        where: Mapping[str, Any] | None,
        where_document: Mapping[str, Any] | None,
    ) -> list[Hit]:
        with self._lock:
            searcher = self._current()
        if searcher is None:
            return []
        allowed = None
        if where or where_document:
            allowed = self.collection.get(where=where, where_document=where_document, include=[])[
                "ids"
            ]
            if not allowed:
                return []
        return self._hits(self._ranked(searcher, query, k, allowed))

    def _ranked(
        self, searcher: Any, query: str, k: int, allowed: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """Chunk ids and BM25 scores (> 0), best first; only ``allowed`` ids if given."""
        from tantivy import Occur, Query

        words = self._analyzer.analyze(query)
        if not words:
            return []
        wanted = Query.boolean_query(
            [(Occur.Should, Query.term_query(self._schema, "text", word)) for word in words]
        )
        if allowed is not None:
            only = Query.term_set_query(self._schema, "id", allowed)
            wanted = Query.boolean_query(
                [(Occur.Must, wanted), (Occur.Must, Query.const_score_query(only, 0.0))]
            )
        found = searcher.search(wanted, k, count=False).hits
        return [(searcher.doc(at)["id"][0], float(score)) for score, at in found if score > 0]

    def _hits(self, ranked: list[tuple[str, float]]) -> list[Hit]:
        """The ranked chunks as hits, their texts and metadata read from the collection."""
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

    def _current(self) -> Any:
        """A searcher of the index in step with the collection (None: no collection)."""
        if not self.collection.exists():
            return None
        version = self.collection.version()  # None for a collection another library built
        index = self._open()
        searcher = index.searcher()
        if self._in_step(searcher, version):
            return searcher
        try:
            with self._exclusive():
                index.reload()  # another process may have caught up while we waited
                if not self._in_step(index.searcher(), version):
                    self._catch_up(index)
                    index.reload()
                    self._counted = time.monotonic()  # it read every record, or counted
        except (OSError, ValueError) as error:
            if self.folder is None:
                raise
            # A read-only store with an index out of date: search from memory instead.
            logger.warning("cannot save the BM25 index to %s: %s", self.folder, error)
            self.folder, self._index = None, None
            return self._current()
        return index.searcher()

    def _in_step(self, searcher: Any, version: str | None) -> bool:
        state = self._state(searcher)
        if (state.get("collection"), state.get("version"), state.get("language")) != (
            self.collection.uid,
            version,
            self.language,
        ):
            return False
        # Writes through crossrank change the version; another library's writes do not, so
        # on a collection others may write to the count tells, checked now and then.
        if not self.collection.foreign or time.monotonic() - self._counted < self.recheck:
            return True
        if searcher.num_docs - 1 != self.collection.count():
            return False
        self._counted = time.monotonic()
        return True

    def catch_up(self) -> None:
        """Bring the index in step with the collection now, as a search would first.

        A server does it at its start, so its first keyword search need not wait.
        """
        with self._lock:
            self._current()

    def rebuild(self) -> None:
        """Read every record again: after another library replaced records in place."""
        with self._lock, self._exclusive():
            index = self._open()
            self._rebuild(index, self.collection.version())
            index.reload()

    def _state(self, searcher: Any) -> dict[str, Any]:
        from tantivy import Query

        found = searcher.search(Query.term_query(self._schema, "id", STATE), 1, count=False)
        if not found.hits:
            return {}
        return dict(json.loads(searcher.doc(found.hits[0][1])["state"][0]))

    def _catch_up(self, index: Any) -> None:
        """Apply what changed since the index's state, or rebuild when that is unknown."""
        import tantivy

        state = self._state(index.searcher())
        version, uid = self.collection.version(), self.collection.uid  # read before changes
        if state.get("collection") == uid and state.get("language") == self.language:
            changes = self.collection.changes(state["since"] - MARGIN_NS)
            if changes.complete:
                with self._writer(index) as writer:
                    for chunk_id in {*changes.deleted, *changes.ids}:
                        writer.delete_documents_by_term("id", chunk_id)
                    for chunk_id, text in zip(changes.ids, changes.texts, strict=True):
                        writer.add_document(tantivy.Document(id=chunk_id, text=text))
                    self._save_state(writer, version, max(state["since"], changes.latest))
                index.reload()
                if index.searcher().num_docs - 1 == self.collection.count():
                    return
                logger.info("the BM25 index disagrees with the collection (another writer?)")
        self._rebuild(index, version)

    def _rebuild(self, index: Any, version: str | None) -> None:
        import tantivy

        ids = self.collection.get(include=[])["ids"]
        logger.info("building the BM25 index of %d chunks", len(ids))
        since = self.collection.changes(sys.maxsize).latest  # the deletion log's newest
        with self._writer(index) as writer:
            writer.delete_all_documents()
            for begin in range(0, len(ids), STEP):
                part = self.collection.get(
                    ids[begin : begin + STEP], include=["documents", "metadatas"], decode=False
                )
                for chunk_id, text, meta in zip(
                    part["ids"], part["documents"], part["metadatas"], strict=True
                ):
                    writer.add_document(tantivy.Document(id=chunk_id, text=record_text(text, meta)))
                    since = max(since, int((meta or {}).get(WRITTEN_KEY, 0)))
            self._save_state(writer, version, since)

    def _save_state(self, writer: Any, version: str | None, since: int) -> None:
        import tantivy

        state = {
            "collection": self.collection.uid,
            "version": version,
            "language": self.language,
            "since": since,
        }
        writer.delete_documents_by_term("id", STATE)
        writer.add_document(tantivy.Document(id=STATE, state=json.dumps(state)))

    @contextmanager
    def _writer(self, index: Any) -> Iterator[Any]:
        writer = index.writer(HEAP, 1)
        try:
            yield writer
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # merge now, and free the writer's lock

    def _exclusive(self) -> Any:
        """The lock that processes sharing the folder take to update the index."""
        if self.folder is None:
            return nullcontext()
        from filelock import FileLock

        return FileLock(str(self.folder) + ".lock")

    def _open(self) -> Any:
        if self._index is None:
            self._index = self._make()
            self._index.register_tokenizer("crossrank", self._analyzer)
            self._index.config_reader("Manual")
        return self._index

    def _make(self) -> Any:
        """The saved index; a new one if it is missing or unreadable; in memory if unsaveable."""
        import tantivy

        if self.folder is not None:
            try:
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    return tantivy.Index(self._schema, path=str(self.folder), reuse=True)
                except ValueError as error:  # damaged, or another format: start again
                    logger.warning("rebuilding the BM25 index in %s: %s", self.folder, error)
                    shutil.rmtree(self.folder)
                    self.folder.mkdir()
                    return tantivy.Index(self._schema, path=str(self.folder), reuse=False)
            except OSError as error:  # a read-only store still searches, from memory
                logger.warning("cannot save the BM25 index to %s: %s", self.folder, error)
                self.folder = None
        return tantivy.Index(self._schema)

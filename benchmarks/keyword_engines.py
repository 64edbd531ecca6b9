"""Keyword engines for hybrid retrieval: bm25s (rebuilt per write), tantivy, SQLite FTS5.

1. Dev set: nDCG@10 of each engine alone and fused with dense retrieval (convex, the
   default weights), on every judged query, through crossrank's own Pipeline.
2. Scale: on the first N texts of a store (``--scale-db``, e.g. query_latency.py's), each
   engine's build time, disk, warm query p50 (top 50), and the time to apply one file's
   change (10 chunks replaced: 10 deleted, 10 added) and answer the next query.
Usage: python benchmarks/keyword_engines.py --dataset DIR --db DB [--scale-db DB --chunks N]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from crossrank import Encoder, Pipeline, Store
from crossrank import evaluate as ev
from crossrank.bm25 import BM25Index
from crossrank.hit import Hit

from query_latency import QUESTIONS

STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)  # Lucene's English list: bm25s's "en" and tantivy's "english"


class Bm25s:
    """Today's engine: bm25s over every chunk, rebuilt whenever the collection changes."""

    name = "bm25s (rebuilt)"

    def __init__(self, ids: list[str], texts: list[str], store: Store | None = None) -> None:
        import bm25s
        import Stemmer

        self.store, self.stemmer = store, Stemmer.Stemmer("english")
        self.ids, self.texts = list(ids), list(texts)
        self.retriever = bm25s.BM25()
        tokens = bm25s.tokenize(
            self.texts, stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        self.retriever.index(tokens, show_progress=False)

    def update(self, deleted: list[str], ids: list[str], texts: list[str]) -> None:
        gone = set(deleted) | set(ids)
        kept = [(i, t) for i, t in zip(self.ids, self.texts, strict=True) if i not in gone]
        self.__init__([i for i, _ in kept] + ids, [t for _, t in kept] + texts, self.store)

    def ranked(self, query: str, k: int) -> list[tuple[str, float]]:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self.stemmer, show_progress=False)
        found, scores = self.retriever.retrieve(
            tokens, k=min(k, len(self.ids)), show_progress=False, n_threads=1
        )
        return [
            (self.ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0
        ]

    def search(self, query: str, k: int, **_: Any) -> list[Hit]:
        return hits(self.store, self.ranked(query, k))


class Fts5:
    """SQLite's FTS5 (Porter stemmer, bm25()); the query's stop words are dropped.

    Chunk ids sit in an unindexed column, so deleting one scans the table (an id-to-rowid
    table would avoid that; its query time alone rules it out here).
    """

    name = "sqlite fts5"

    def __init__(self, ids: list[str], texts: list[str], store: Store | None = None) -> None:
        self.store = store
        self.folder = tempfile.mkdtemp()
        self.db = sqlite3.connect(Path(self.folder) / "fts.db")
        self.db.execute(
            "CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, text, "
            "tokenize='porter unicode61')"
        )
        self.db.executemany("INSERT INTO chunks VALUES (?, ?)", zip(ids, texts, strict=True))
        self.db.commit()

    def update(self, deleted: list[str], ids: list[str], texts: list[str]) -> None:
        self.db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in deleted + ids])
        self.db.executemany("INSERT INTO chunks VALUES (?, ?)", zip(ids, texts, strict=True))
        self.db.commit()

    def ranked(self, query: str, k: int) -> list[tuple[str, float]]:
        words = [
            w
            for w in "".join(c if c.isalnum() else " " for c in query.lower()).split()
            if len(w) > 1 and w not in STOPWORDS
        ]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        rows = self.db.execute(
            "SELECT id, -bm25(chunks) FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) "
            "LIMIT ?",
            (match, k),
        ).fetchall()
        return [(i, float(s)) for i, s in rows]

    def search(self, query: str, k: int, **_: Any) -> list[Hit]:
        return hits(self.store, self.ranked(query, k))

    def disk(self) -> int:
        return sum(f.stat().st_size for f in Path(self.folder).rglob("*") if f.is_file())


class Tantivy:
    """crossrank's BM25Index engine (tantivy), fed directly, without a collection."""

    name = "tantivy"

    def __init__(self, ids: list[str], texts: list[str], store: Store | None = None) -> None:
        import tantivy

        self.folder = Path(tempfile.mkdtemp())
        self.index = BM25Index(store.collection if store else None, self.folder)  # type: ignore[arg-type]
        self.tantivy = tantivy
        index = self.index._open()
        with self.index._writer(index) as writer:
            for chunk_id, text in zip(ids, texts, strict=True):
                writer.add_document(tantivy.Document(id=chunk_id, text=text))
        index.reload()

    def update(self, deleted: list[str], ids: list[str], texts: list[str]) -> None:
        index = self.index._open()
        with self.index._writer(index) as writer:
            for chunk_id in deleted + ids:
                writer.delete_documents_by_term("id", chunk_id)
            for chunk_id, text in zip(ids, texts, strict=True):
                writer.add_document(self.tantivy.Document(id=chunk_id, text=text))
        index.reload()

    def ranked(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.index._ranked(self.index._open().searcher(), query, k)

    def disk(self) -> int:
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())


def hits(store: Store | None, ranked: list[tuple[str, float]]) -> list[Hit]:
    """Ranked ids as hits, read from the store as crossrank's own BM25 does."""
    assert store is not None
    return store.bm25._hits(ranked)


def dev_set(dataset: str, db: str, precision: str) -> None:
    data = ev.load_beir(dataset)
    store = Store(db, encoder=Encoder(device="cpu", precision=precision))
    ev.index_corpus(store, data)
    everything = store.collection.get(include=["documents"])
    engines = {
        "bm25s (today)": Bm25s(everything["ids"], everything["documents"], store),
        "tantivy (crossrank)": store.bm25,
        "sqlite fts5": Fts5(everything["ids"], everything["documents"], store),
    }
    stages = {"dense": Pipeline(store, retrieval="dense")}
    for name, engine in engines.items():
        for mode in ("bm25", "hybrid"):
            pipeline = Pipeline(store, retrieval=mode)
            pipeline.retrievers["bm25"] = engine
            stages[f"{name} {mode}"] = pipeline
    results = ev.evaluate(store, data, retrievers=stages)
    print(
        f"dev set: {len(data.qrels)} judged queries, {store.count():,} chunks, "
        f"query encoder {precision}; hybrid = convex 0.9 dense / 0.1 bm25"
    )
    print(f"  {'stage':28s} " + " ".join(f"{m:>10s}" for m in ev.METRICS))
    for name, result in results.items():
        print(f"  {name:28s} " + " ".join(f"{result.metrics[m]:10.4f}" for m in ev.METRICS))


def scale(db: str, chunks: int, repeats: int) -> None:
    store = Store(db, "scale", Encoder(device="cpu"))
    ids = store.collection.get(include=[])["ids"][:chunks]
    texts = store.collection.get(ids, include=["documents"])["documents"]
    print(f"\nscale: {len(ids):,} chunks from {db}; one file's change = 10 chunks replaced")
    print(
        f"  {'engine':18s} {'build':>8s} {'disk':>9s} {'warm p50':>9s} {'p95':>9s} "
        f"{'change + next query':>20s}"
    )
    for engine_type in (Tantivy, Fts5, Bm25s):
        started = time.perf_counter()
        engine = engine_type(ids, texts)
        built = time.perf_counter() - started
        for question in QUESTIONS:
            engine.ranked(question, 50)
        times = []
        for _ in range(repeats):
            for question in QUESTIONS:
                t = time.perf_counter()
                engine.ranked(question, 50)
                times.append(time.perf_counter() - t)
        started = time.perf_counter()
        engine.update(ids[:10], [f"new{i}" for i in range(10)], texts[10:20])
        engine.ranked(QUESTIONS[0], 50)
        changed = time.perf_counter() - started
        disk = f"{engine.disk() / 2**20:6.0f}MiB" if hasattr(engine, "disk") else "memory"
        p95 = statistics.quantiles(times, n=20)[-1]
        print(
            f"  {engine.name:18s} {built:7.1f}s {disk:>9s} "
            f"{1000 * statistics.median(times):7.1f}ms {1000 * p95:7.1f}ms "
            f"{1000 * changed:18.0f}ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="A BEIR-format folder (make dataset).")
    parser.add_argument("--db", help="Its crossrank store.")
    parser.add_argument("--precision", default="fp32", help="The query encoder's precision.")
    parser.add_argument("--scale-db", help="A store of synthetic chunks (query_latency.py).")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.dataset:
        dev_set(args.dataset, args.db, args.precision)
    if args.scale_db:
        scale(args.scale_db, args.chunks, args.repeats)


if __name__ == "__main__":
    main()

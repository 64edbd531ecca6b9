"""Hybrid queries on a collection another library built: the count check, before and after.

A collection written by plain chromadb (as langchain-chroma or LlamaIndex's ChromaVectorStore
write it: no crossrank model, no version token) is opened by crossrank with a named model.
Such a collection's writers do not tell crossrank when they write, so its keyword index
compares Chroma's record count (a scan) with its own: before every search until now
(``recheck=0``), at most every ``RECHECK_S`` seconds now. In one process, on the same
store: warm p50/p95 of hybrid and dense retrieval (``--fetch-k`` candidates) with each
rule, what one ``count()`` costs, and how long a record another library adds takes to show
in keyword search (the staleness bound, plus the rebuild such a write causes).

The store (``--db``, default ``.cache/foreign-N``) is built once and reused; its vectors
are synthetic unit vectors, its texts real documentation passages; queries are embedded
by the real all-MiniLM-L6-v2.
Usage: python benchmarks/foreign_collection.py --chunks N [--queries Q]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from crossrank import Encoder, Pipeline, Store
from crossrank.bm25 import RECHECK_S

from common import CACHE, synthetic_records
from query_latency import QUESTIONS


def build(db: Path, chunks: int, dimension: int) -> str:
    """Extend the plain-chromadb collection at ``db`` to ``chunks`` records."""
    import chromadb

    client = chromadb.PersistentClient(path=str(db))
    raw = client.get_or_create_collection("theirs", embedding_function=None)  # l2, no model
    have = raw.count()
    if have >= chunks:
        return f"reused ({have:,} records)"
    step = client.get_max_batch_size()
    started = time.perf_counter()
    for ids, texts, metadatas, vectors in synthetic_records(have, chunks, dimension, step):
        raw.add(ids=ids, documents=texts, metadatas=metadatas, embeddings=vectors)
    return f"added by chromadb at {(chunks - have) / (time.perf_counter() - started):,.0f}/s"


def warm(pipeline: Pipeline, queries: int, fetch_k: int) -> tuple[float, float]:
    times = []
    for question in (QUESTIONS * (queries // len(QUESTIONS) + 1))[:queries]:
        started = time.perf_counter()
        pipeline.retrieve(question, fetch_k)
        times.append(time.perf_counter() - started)
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--fetch-k", type=int, default=50)
    args = parser.parse_args()
    db = args.db or CACHE / f"foreign-{args.chunks}"
    encoder = Encoder(device="cpu").load()
    added = build(db, args.chunks, encoder.dimension)
    store = Store(db, "theirs", encoder)  # a named model opens a collection another library built
    started = time.perf_counter()
    store.bm25.search(QUESTIONS[0], args.fetch_k)
    prepared = time.perf_counter() - started
    counts = []
    for _ in range(5):
        started = time.perf_counter()
        store.count()
        counts.append(time.perf_counter() - started)
    print(
        f"{store.count():,} records written by plain chromadb ({added}); keyword index in "
        f"step in {prepared:.1f} s; one count(): {1000 * statistics.median(counts):.1f} ms"
    )
    dense = Pipeline(store, retrieval="dense")
    hybrid = Pipeline(store, retrieval="hybrid")
    dense.retrieve(QUESTIONS[0], args.fetch_k)
    dense_p50, dense_p95 = warm(dense, args.queries, args.fetch_k)
    print(f"  {'retrieval, count rule':44s} {'warm p50':>9s} {'p95':>9s} {'/dense p50':>11s}")
    print(f"  {'dense':44s} {1000 * dense_p50:7.1f}ms {1000 * dense_p95:7.1f}ms {1:10.2f}x")
    for label, recheck in (
        ("before every search (before)", 0.0),
        (f"every {RECHECK_S:g} s (now)", RECHECK_S),
    ):
        store.bm25.recheck = recheck
        hybrid.retrieve(QUESTIONS[0], args.fetch_k)
        p50, p95 = warm(hybrid, args.queries, args.fetch_k)
        print(
            f"  {'hybrid, count ' + label:44s} {1000 * p50:7.1f}ms {1000 * p95:7.1f}ms "
            f"{p50 / dense_p50:10.2f}x"
        )
    # Staleness: another library adds a record; how long until keyword search finds it.
    raw = store.client.get_collection("theirs", embedding_function=None)
    word = f"zyzzyva{time.time_ns()}"
    vector = np.ones(encoder.dimension, dtype=np.float32) / np.sqrt(encoder.dimension)
    raw.add(ids=[word], documents=[f"The {word} is a weevil."], embeddings=[vector])
    added_at = time.perf_counter()
    searches = 0
    while not store.bm25.search(word, 1):
        searches += 1
        time.sleep(0.05)
    found = time.perf_counter() - added_at
    print(
        f"  a record plain chromadb added was found by keyword search after {found:.1f} s "
        f"({searches} searches missed it; bound: {RECHECK_S:g} s + the rebuild such a "
        "write causes)"
    )
    raw.delete(ids=[word])


if __name__ == "__main__":
    main()

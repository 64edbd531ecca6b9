"""Query latency at scale, hybrid (the default) and dense: open, first query, warm, after a write.

The store holds N chunks in an embedded (persistent) Chroma collection, kept in ``--db``
(default ``.cache/scale-N``) and reused by later runs; their vectors are synthetic unit
vectors (the store's cost does not depend on what they mean), their texts real
documentation passages. Queries are embedded by the real all-MiniLM-L6-v2.

Each mode runs in a fresh process: opening the store, the first query (Chroma loads its
vector index, the BM25 index is opened from disk), warm p50/p95 of ``--queries`` queries,
``store.index([one small file])`` and the next query, and the process's peak RSS. Before
them a process brings the BM25 index in step with the store (timed when it has to build
it: the one-off cost for a store that has none). Hybrid then reranks ``--fetch-k``
candidates with the MiniLM-L6-sized benchmark cross-encoder.
Usage: python benchmarks/query_latency.py --chunks N [--queries Q] [--fetch-k K]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from crossrank import Encoder, Pipeline, Reranker, Store

from common import benchmark_cross_encoder, passages, synthetic_records

QUESTIONS = [
    "How do I leave a loop early?",
    "What does the assert statement do?",
    "How are exceptions handled?",
    "How do I import a module from a package?",
    "What is a lambda expression?",
    "How do I format a string?",
    "What is the difference between a list and a tuple?",
    "How do generators work?",
    "How do I read a file line by line?",
    "What does the with statement do?",
]
ONE_FILE = "\n\n".join(passages(4, low=150, high=200, seed=7))  # a few chunks' worth


def build(db: Path, chunks: int) -> str:
    """Extend the store at ``db`` to ``chunks`` synthetic chunks; say what it cost."""
    store = Store(db, "scale", Encoder(device="cpu"))
    have = store.count()
    if have >= chunks:
        return f"reused ({have:,} chunks)"
    step = store.client.get_max_batch_size()
    started = time.perf_counter()
    for records in synthetic_records(have, chunks, store.encoder.dimension, step):
        store.collection.upsert(*records)
    return f"{(chunks - have) / (time.perf_counter() - started):,.0f} chunks/s"


def measure(db: Path, mode: str, queries: int, fetch_k: int, rerank_queries: int) -> dict:
    """One mode's figures, in this (fresh) process."""
    encoder = Encoder(device="cpu").load()  # the models load outside the timings
    figures: dict = {}
    started = time.perf_counter()
    store = Store(db, "scale", encoder)
    store.count()
    figures["open"] = time.perf_counter() - started
    if mode == "prepare":  # the BM25 index in step: built when missing, else caught up
        started = time.perf_counter()
        store.bm25.search(QUESTIONS[0], fetch_k)
        return {"prepare": time.perf_counter() - started}
    pipeline = Pipeline(store, retrieval=mode)
    started = time.perf_counter()
    pipeline.retrieve(QUESTIONS[0], fetch_k)
    figures["first"] = time.perf_counter() - started
    warm = []
    for question in (QUESTIONS * (queries // len(QUESTIONS) + 1))[:queries]:
        started = time.perf_counter()
        pipeline.retrieve(question, fetch_k)
        warm.append(time.perf_counter() - started)
    figures["p50"], figures["p95"] = statistics.median(warm), float(np.percentile(warm, 95))
    folder = db.parent / f"{db.name}-writes"
    folder.mkdir(exist_ok=True)
    written = folder / f"{mode}-{time.time_ns()}.txt"
    written.write_text(ONE_FILE, encoding="utf-8")
    started = time.perf_counter()
    report = store.index([written])
    figures["write"] = time.perf_counter() - started
    figures["write_chunks"] = report.chunks
    started = time.perf_counter()
    pipeline.retrieve(QUESTIONS[1], fetch_k)
    figures["after_write"] = time.perf_counter() - started
    figures["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if rerank_queries:
        reranker = Reranker(benchmark_cross_encoder(), device="cpu").load()
        reranker.rerank("warm up", pipeline.retrieve("warm up", fetch_k))
        both = []
        for question in QUESTIONS[:rerank_queries]:
            started = time.perf_counter()
            reranker.rerank(question, pipeline.retrieve(question, fetch_k), top_n=5)
            both.append(time.perf_counter() - started)
        figures["rerank_p50"] = statistics.median(both)
    return figures


def size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--fetch-k", type=int, default=50)
    parser.add_argument("--rerank-queries", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a mode, in a child process
    args = parser.parse_args()
    db = args.db or Path(__file__).parent / ".cache" / f"scale-{args.chunks}"
    if args.measure:
        rerank = args.rerank_queries if args.measure == "hybrid" else 0
        figures = measure(db, args.measure, args.queries, args.fetch_k, rerank)
        print(json.dumps(figures))
        return

    added = build(db, args.chunks)
    runs = {}
    built = not (db / "keyword" / "scale" / "meta.json").exists()
    for mode in ("prepare", "dense", "prepare", "hybrid"):
        child = [sys.executable, __file__, "--chunks", str(args.chunks), "--db", str(db)]
        options = ["--queries", str(args.queries), "--fetch-k", str(args.fetch_k)]
        options += ["--rerank-queries", str(args.rerank_queries), "--measure", mode]
        done = subprocess.run(child + options, capture_output=True, text=True, check=True)
        runs.setdefault(mode, json.loads(done.stdout.strip().splitlines()[-1]))
    keyword = size(db / "keyword")
    print(
        f"{args.chunks:,} chunks: add {added} (synthetic vectors); disk: Chroma "
        f"{(size(db) - keyword) / 2**20:,.0f} MiB, BM25 index {keyword / 2**20:,.0f} MiB"
    )
    if built:
        print(f"  BM25 index built once for the existing store: {runs['prepare']['prepare']:.1f} s")
    print(
        f"  {'mode':7s} {'open':>7s} {'first query':>12s} {'warm p50':>9s} {'p95':>9s} "
        f"{'one-file write':>15s} {'next query':>11s} {'peak RSS':>9s}"
    )
    for mode in ("dense", "hybrid"):
        r = runs[mode]
        print(
            f"  {mode:7s} {1000 * r['open']:5.0f}ms {r['first']:11.2f}s "
            f"{1000 * r['p50']:7.1f}ms {1000 * r['p95']:7.1f}ms "
            f"{r['write']:8.2f}s ({r['write_chunks']}) {r['after_write']:10.2f}s "
            f"{r['rss'] / 2**30:7.2f}GiB"
        )
    dense, hybrid = runs["dense"], runs["hybrid"]
    print(
        f"  hybrid/dense warm p50 {hybrid['p50'] / dense['p50']:.2f}x; hybrid query after the "
        f"write: +{hybrid['after_write'] - hybrid['p50']:.2f} s over warm; retrieve + rerank "
        f"{args.fetch_k} (hybrid) p50 {hybrid['rerank_p50']:.2f} s"
    )


if __name__ == "__main__":
    main()

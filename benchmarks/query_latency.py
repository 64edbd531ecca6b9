"""Query latency at scale: p50/p95 of retrieve-only and retrieve + rerank, peak RSS, disk.

The store holds N chunks in an embedded (persistent) Chroma collection; their vectors are
synthetic unit vectors (the store's cost does not depend on what they mean), their texts
real documentation passages. Queries are embedded by the real all-MiniLM-L6-v2; reranking
uses the MiniLM-L6-sized benchmark cross-encoder on the top ``--fetch-k`` candidates.
Usage: python benchmarks/query_latency.py --chunks N [--queries Q] [--fetch-k K]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from crossrank import Encoder, Reranker, Store

from common import benchmark_cross_encoder, passages

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


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--fetch-k", type=int, default=50)
    parser.add_argument("--rerank-queries", type=int, default=5)
    args = parser.parse_args()

    encoder = Encoder(device="cpu")
    texts = passages(2000, low=50, high=200, seed=1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as db:
        store = Store(db, "scale", encoder)
        step = store.client.get_max_batch_size()
        encoder.load()  # outside the timing
        started = time.perf_counter()
        for begin in range(0, args.chunks, step):
            n = min(step, args.chunks - begin)
            vectors = rng.standard_normal((n, encoder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.collection.upsert(
                [f"c{begin + i}" for i in range(n)],
                [texts[(begin + i) % len(texts)] for i in range(n)],
                [{"source": f"doc{(begin + i) // 10}"} for i in range(n)],
                vectors,
            )
        added = time.perf_counter() - started
        questions = (QUESTIONS * (args.queries // len(QUESTIONS) + 1))[: args.queries]
        store.search("warm up", k=args.fetch_k)
        retrieve = []
        for question in questions:
            t = time.perf_counter()
            store.search(question, k=args.fetch_k)
            retrieve.append(time.perf_counter() - t)
        reranker = Reranker(benchmark_cross_encoder(), device="cpu").load()
        reranker.rerank("warm up", store.search("warm up", k=args.fetch_k))
        both = []
        for question in questions[: args.rerank_queries]:
            t = time.perf_counter()
            reranker.rerank(question, store.search(question, k=args.fetch_k), top_n=5)
            both.append(time.perf_counter() - t)
        disk = sum(f.stat().st_size for f in Path(db).rglob("*") if f.is_file())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.chunks} chunks: add {args.chunks / added:,.0f} chunks/s (synthetic vectors), "
        f"disk {disk / 2**20:,.0f} MiB, peak RSS {rss:,.0f} MiB"
    )
    print(
        f"  retrieve k={args.fetch_k}: p50 {1000 * statistics.median(retrieve):.1f} ms, "
        f"p95 {1000 * percentile(retrieve, 95):.1f} ms ({len(retrieve)} queries)"
    )
    print(
        f"  retrieve + rerank {args.fetch_k}: p50 {1000 * statistics.median(both):.0f} ms, "
        f"p95 {1000 * percentile(both, 95):.0f} ms ({len(both)} queries)"
    )


if __name__ == "__main__":
    main()

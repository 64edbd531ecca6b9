"""Concurrent callers in one process: one after another vs all at once, in both frameworks.

Each request reranks 20 passages of 20-120 words with the MiniLM-L6-sized cross-encoder
(default precision), through crossrank's LangChain ``CrossEncoderReranker``
(``compress_documents`` / ``acompress_documents``) and LlamaIndex ``CrossEncoderRerank``
(``postprocess_nodes`` / ``apostprocess_nodes``). For N callers it times the N requests
made one after another, then concurrently (``asyncio.gather``), and prints the throughput
ratio (sequential time / concurrent time; above 1: concurrency helps), medians of
``--repeats`` runs. Then one caller alone: its p50 latency through the shared batcher vs a
direct call of the model (the path before the batcher), and the bound: all of 8 requests'
pairs in one ``Reranker.score_many`` call.
Usage: python benchmarks/concurrency.py [--callers 1,2,4,8,16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import benchmark_cross_encoder, median_seconds, passages

QUERIES = [
    "How do I leave a loop early?",
    "What does the with statement do?",
    "How are exceptions raised and caught?",
    "How do I import a module?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    callers = [int(n) for n in args.callers.split(",")]

    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.crossrank import CrossEncoderRerank

    from crossrank import Reranker
    from langchain_crossrank import CrossEncoderReranker

    reranker = Reranker(benchmark_cross_encoder(), device="cpu").load()
    most = max(callers)
    texts = [passages(20, 20, 120, seed=seed) for seed in range(most)]
    queries = [QUERIES[i % len(QUERIES)] for i in range(most)]
    chain = CrossEncoderReranker(model=reranker, top_n=5)
    llama = CrossEncoderRerank(reranker, top_n=5)
    docs = [[Document(page_content=t) for t in group] for group in texts]
    nodes = [[NodeWithScore(node=TextNode(text=t), score=0.0) for t in group] for group in texts]
    frameworks: dict[str, tuple[Callable[[int], Any], Callable[[int], Any]]] = {
        "LangChain": (
            lambda i: chain.compress_documents(docs[i], queries[i]),
            lambda i: chain.acompress_documents(docs[i], queries[i]),
        ),
        "LlamaIndex": (
            lambda i: llama.postprocess_nodes(nodes[i], query_str=queries[i]),
            lambda i: llama.apostprocess_nodes(nodes[i], query_str=queries[i]),
        ),
    }
    print(f"precision {reranker.model.dtype}, {len(texts[0])} passages of 20-120 words a request")
    loop = asyncio.new_event_loop()  # one loop for every concurrent run, as in an app
    print("| framework | callers | one after another | concurrent | throughput x |")
    print("|---|---|---|---|---|")
    for name, (sync, coroutine) in frameworks.items():
        for n in callers:

            def one_by_one(n: int = n, sync: Callable[[int], Any] = sync) -> None:
                for i in range(n):
                    sync(i)

            async def together(n: int = n, coroutine: Callable[[int], Any] = coroutine) -> None:
                await asyncio.gather(*(coroutine(i) for i in range(n)))

            sequential = median_seconds(one_by_one, args.repeats)
            concurrent = median_seconds(lambda: loop.run_until_complete(together()), args.repeats)
            print(
                f"| {name} | {n} | {sequential:.2f} s | {concurrent:.2f} s | "
                f"{sequential / concurrent:.2f} |"
            )

    latencies: dict[str, list[float]] = {"through the batcher": [], "direct (before)": []}
    calls = {
        "through the batcher": lambda: reranker.score(queries[0], texts[0]),
        "direct (before)": lambda: reranker._score_spans([(queries[0], texts[0])]),
    }
    for _ in range(5 * args.repeats):  # interleaved, so drift hits both alike
        for label, call in calls.items():
            started = time.perf_counter()
            call()
            latencies[label].append(time.perf_counter() - started)
    p50 = {label: statistics.median(times) for label, times in latencies.items()}
    print(
        f"\none caller alone, p50: {p50['through the batcher'] * 1000:.0f} ms through the "
        f"batcher, {p50['direct (before)'] * 1000:.0f} ms direct "
        f"({p50['through the batcher'] / p50['direct (before)']:.3f}x)"
    )
    eight = [(queries[i], texts[i]) for i in range(min(8, most))]
    bound = median_seconds(lambda: reranker.score_many(eight), args.repeats)
    print(f"{len(eight)} requests' pairs in one score_many call: {bound:.2f} s")


if __name__ == "__main__":
    main()

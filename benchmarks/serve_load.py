"""A bounded load test of crossrank serve: good and bad requests mixed, for a fixed time.

Starts ``crossrank serve`` (the benchmark cross-encoder, an API key, small limits), then
runs concurrent asyncio clients sending, at random, good rerank requests in each API's
shape, /v1/search, and bad ones (empty query, malformed JSON, wrong types, too many or too
long documents, an oversized body, a wrong key). Prints the answers by status, whether every
good request got its 200, the 5xx count, and the server's RSS after warm-up and at the end.
Usage: python serve_load.py [--seconds 180] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import time
from pathlib import Path

import httpx
from serve import crossrank_serve

from common import benchmark_cross_encoder, passages

KEY = "load-test-key"


def requests(rng: random.Random, texts: list[str]) -> tuple[str, str, dict, bool]:
    """(kind, path, httpx arguments, whether it is a good request)."""
    docs = rng.sample(texts, rng.randint(1, 20))
    query = rng.choice(["how do I leave a loop", "what is a module", "raise an exception"])
    good = {
        "cohere v2": ("/v2/rerank", {"json": {"model": "m", "query": query, "documents": docs}}),
        "jina v1": (
            "/v1/rerank",
            {"json": {"query": query, "documents": [{"text": d} for d in docs], "top_n": 3}},
        ),
        "tei": ("/rerank", {"json": {"query": query, "texts": docs, "raw_scores": True}}),
        "search": ("/v1/search", {"json": {"query": query, "top_n": 3, "fetch_k": 10}}),
    }
    as_json = {"content-type": "application/json"}
    bad = {
        "empty query": ("/v2/rerank", {"json": {"query": " ", "documents": docs}}),
        "malformed json": ("/v2/rerank", {"content": b'{"query": [', "headers": as_json}),
        "wrong types": ("/rerank", {"json": {"query": ["q"], "texts": "not a list"}}),
        "too many documents": ("/v2/rerank", {"json": {"query": query, "documents": ["a"] * 101}}),
        "too long document": ("/v2/rerank", {"json": {"query": query, "documents": ["a" * 20001]}}),
        "oversized body": ("/v2/rerank", {"content": b"x" * (2 * 2**20 + 1), "headers": as_json}),
        "wrong key": (
            "/v2/rerank",
            {
                "json": {"query": query, "documents": docs},
                "headers": {"Authorization": "Bearer no"},
            },
        ),
    }
    if rng.random() < 0.6:
        kind = rng.choice(list(good))
        return kind, *good[kind], True
    kind = rng.choice(list(bad))
    return kind, *bad[kind], False


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    model = benchmark_cross_encoder()
    texts = passages(200, 10, 150, seed=3)
    limits = ["--api-key", KEY, "--max-documents", "100", "--max-document-chars", "20000",
               "--max-body-mb", "2"]  # fmt: skip
    with crossrank_serve(model, *limits) as (url, server, _):
        statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        missed: list[str] = []

        async def client(seed: int, until: float, http: httpx.AsyncClient) -> None:
            rng = random.Random(seed)
            while time.monotonic() < until:
                kind, path, options, good = requests(rng, texts)
                headers = {"Authorization": f"Bearer {KEY}", **options.pop("headers", {})}
                response = await http.post(path, headers=headers, **options)
                statuses[(kind, response.status_code)] += 1
                if good and response.status_code != 200:
                    missed.append(f"{kind}: {response.status_code} {response.text[:200]}")

        async def run(seconds: float) -> None:
            async with httpx.AsyncClient(base_url=url, timeout=600) as http:
                until = time.monotonic() + seconds
                await asyncio.gather(*(client(i, until, http) for i in range(args.clients)))

        asyncio.run(run(min(30.0, args.seconds / 4)))  # warm-up: allocator and caches settle
        before = rss_mib(server.pid)
        statuses.clear()
        started = time.perf_counter()
        asyncio.run(run(args.seconds))
        took = time.perf_counter() - started
        after = rss_mib(server.pid)
    total = sum(statuses.values())
    print(f"{total} requests in {took:.0f} s from {args.clients} clients ({total / took:.1f}/s)")
    for (kind, status), count in sorted(statuses.items()):
        print(f"  {kind:20s} {status}  {count}")
    errors = sum(count for (_, status), count in statuses.items() if status >= 500)
    print(f"5xx answers: {errors}; good requests not answered 200: {len(missed)}")
    for line in missed[:5]:
        print("  ", line)
    grew = after - before
    print(
        f"server RSS after warm-up {before:.0f} MiB, at the end {after:.0f} MiB ({grew:+.0f} MiB)"
    )


if __name__ == "__main__":
    main()

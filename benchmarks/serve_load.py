"""A bounded load test of crossrank serve: good and bad requests mixed, for a fixed time.

Starts ``crossrank serve`` (the benchmark cross-encoder, an API key, small limits), then
runs concurrent asyncio clients sending, at random, good rerank requests in each API's
shape, /v1/search, and bad ones (empty query, malformed JSON, wrong types, too many or too
long documents, an oversized body, a wrong key). Prints the answers by status, whether every
good request got its 200, the 5xx count, and the server's RSS curve after warm-up (sampled
every ``--sample`` seconds; ``--plot FILE`` draws it).
Usage: python serve_load.py [--seconds 180] [--clients 8] [--warm-up 30] [--precision auto]
    [--plot rss.png]
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
    parser.add_argument("--warm-up", type=float, default=None, help="default: min(30, s / 4)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--sample", type=float, default=None, help="default: seconds / 30")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    warm_up = min(30.0, args.seconds / 4) if args.warm_up is None else args.warm_up
    every = args.seconds / 30 if args.sample is None else args.sample
    model = benchmark_cross_encoder()
    texts = passages(200, 10, 150, seed=3)
    limits = ["--api-key", KEY, "--max-documents", "100", "--max-document-chars", "20000",
               "--max-body-mb", "2", "--precision", args.precision]  # fmt: skip
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

        curve: list[tuple[float, float]] = []  # (seconds since the warm-up, RSS MiB)

        async def sample(until: float) -> None:
            start = time.monotonic()
            while True:
                curve.append((time.monotonic() - start, rss_mib(server.pid)))
                if time.monotonic() >= until:
                    return
                await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))

        async def run(seconds: float, sampled: bool = False) -> None:
            async with httpx.AsyncClient(base_url=url, timeout=600) as http:
                until = time.monotonic() + seconds
                clients = [client(i, until, http) for i in range(args.clients)]
                await asyncio.gather(*clients, *([sample(until)] if sampled else []))

        asyncio.run(run(warm_up))  # warm-up: allocator and caches settle
        statuses.clear()
        started = time.perf_counter()
        asyncio.run(run(args.seconds, sampled=True))
        took = time.perf_counter() - started
    total = sum(statuses.values())
    print(f"{total} requests in {took:.0f} s from {args.clients} clients ({total / took:.1f}/s)")
    for (kind, status), count in sorted(statuses.items()):
        print(f"  {kind:20s} {status}  {count}")
    errors = sum(count for (_, status), count in statuses.items() if status >= 500)
    print(f"5xx answers: {errors}; good requests not answered 200: {len(missed)}")
    for line in missed[:5]:
        print("  ", line)
    before, after = curve[0][1], curve[-1][1]
    print(f"RSS curve ({args.precision}), seconds after the {warm_up:.0f} s warm-up: MiB")
    print("  " + ", ".join(f"{t:.0f}: {rss:.0f}" for t, rss in curve))
    print(
        f"server RSS after warm-up {before:.0f} MiB, at the end {after:.0f} MiB "
        f"({after - before:+.0f} MiB, {(after / before - 1) * 100:+.1f}%), "
        f"peak {max(rss for _, rss in curve):.0f} MiB"
    )
    if args.plot:
        plot(curve, args.plot, f"crossrank serve, {args.clients} clients, {args.precision}")


def plot(curve: list[tuple[float, float]], path: Path, title: str) -> None:
    """The RSS curve as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3))
    axes.plot([t / 60 for t, _ in curve], [rss for _, rss in curve], marker=".")
    axes.set_xlabel("minutes after warm-up")
    axes.set_ylabel("RSS (MiB)")
    axes.set_ylim(0, max(rss for _, rss in curve) * 1.2)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"plotted to {path}")


if __name__ == "__main__":
    main()

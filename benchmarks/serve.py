"""Serving: crossrank serve vs the same model in-process vs infinity-emb, 1/4/16 clients.

Each client sends one query with 20 mixed-length documents per request, back to back.
Prints pairs/s and p50/p95 latency per system and concurrency, and each one's share of
the in-process ceiling (``Reranker.score_many`` on all the clients' pairs at once). Then
the cold latency of ``crossrank ask --server`` vs ``crossrank ask``.
infinity-emb pins its own transformers: give its venv's ``infinity_emb`` with --infinity
(docs/explanation/benchmarks.md says how to make one); without it, its row is skipped.
Usage: python serve.py [--clients 1,4,16] [--rounds 2] [--infinity PATH] [--precision fp32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from common import benchmark_cross_encoder, passages

DOCUMENTS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=2, help="Requests per client.")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--infinity", default=shutil.which("infinity_emb"))
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    model = benchmark_cross_encoder()
    requests = [
        (
            f"question {i}: " + passages(1, 5, 12, seed=1000 + i)[0],
            passages(DOCUMENTS, 20, 250, seed=i),
        )
        for i in range(max(levels) * args.rounds)
    ]
    print(
        f"{DOCUMENTS} documents of 20-250 words per request, {args.rounds} requests per "
        f"client, model MiniLM-L6 cross-encoder, {args.precision}, {os.cpu_count()} CPUs"
    )
    rows: list[tuple[str, int, float, float, float]] = []
    ceiling = in_process(model, args.precision, requests, levels)
    with crossrank_serve(model, "--precision", args.precision) as (url, _, db):
        for clients in levels:
            rate = load(url, "/v2/rerank", requests, clients, args.rounds)
            rows.append(("crossrank serve", clients, *rate))
        cold(url, db, model, args.precision, args.cold_runs)
    if args.infinity:
        port = free_port()
        command = [args.infinity, "v2", "--model-id", model, "--engine", "torch", "--device",
                   "cpu", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with running(command, port) as (url, _):
            for clients in levels:
                rows.append(
                    ("infinity-emb", clients, *load(url, "/rerank", requests, clients, args.rounds))
                )
    else:
        print("infinity-emb: not found (--infinity PATH); skipped")
    header = ("system", "clients", "pairs/s", "p50 s", "p95 s", "of ceiling")
    print("\n{:18s} {:>7s} {:>8s} {:>7s} {:>7s} {:>10s}".format(*header))
    for clients in levels:
        rate = ceiling[clients]
        print(
            f"{'in-process ceiling':18s} {clients:7d} {rate:8.1f} {'-':>7s} {'-':>7s} {'100%':>10s}"
        )
        for name, n, rate, p50, p95 in rows:
            if n == clients:
                share = f"{100 * rate / ceiling[clients]:.0f}%"
                print(f"{name:18s} {n:7d} {rate:8.1f} {p50:7.2f} {p95:7.2f} {share:>10s}")


def in_process(model: str, precision: str, requests, levels) -> dict[int, float]:
    from crossrank import Reranker

    reranker = Reranker(model, device="cpu", precision=precision).load()
    reranker.score_many(requests[:1])  # warm up
    rates = {}
    for clients in levels:
        batch = requests[:clients]
        started = time.perf_counter()
        reranker.score_many(batch)
        rates[clients] = clients * DOCUMENTS / (time.perf_counter() - started)
    return rates


def load(url: str, path: str, requests, clients: int, rounds: int) -> tuple[float, float, float]:
    """pairs/s, p50 and p95 seconds with ``clients`` concurrent clients."""

    async def client(mine, http: httpx.AsyncClient, latencies: list[float]) -> None:
        for query, documents in mine:
            started = time.perf_counter()
            response = await http.post(
                path, json={"model": "m", "query": query, "documents": documents}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async def run() -> tuple[float, list[float]]:
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            await client(requests[:1], http, [])  # warm up
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    client(requests[i * rounds : (i + 1) * rounds], http, latencies)
                    for i in range(clients)
                )
            )
            return time.perf_counter() - started, latencies

    took, latencies = asyncio.run(run())
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return clients * rounds * DOCUMENTS / took, statistics.median(latencies), quantiles[18]


def cold(url: str, db: Path, model: str, precision: str, runs: int) -> None:
    question = "How do I leave a loop early?"
    commands = {
        "crossrank ask (loads the models)": [
            "--db",
            str(db),
            "--reranker",
            model,
            "--precision",
            precision,
        ],
        "crossrank ask --server": ["--server", url],
    }
    for name, options in commands.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "crossrank.cli", "ask", question, *options, "--json"],
                check=True, capture_output=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
        print(f"cold {name}: median {statistics.median(times):.2f} s of {runs} runs")
    from crossrank.client import RemotePipeline

    remote, times = RemotePipeline(url), []
    for _ in range(runs):
        started = time.perf_counter()
        remote.search(question)
        times.append(time.perf_counter() - started)
    print(
        f"the same search from a warm Python client (the server's own time): median "
        f"{statistics.median(times):.2f} s"
    )


def make_db(db: Path) -> None:
    from crossrank import Store

    texts = passages(500, 50, 200, seed=7)
    Store(path=str(db)).add_texts(texts, [{"source": f"p{i}.txt"} for i in range(len(texts))])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def crossrank_serve(model: str, *options: str) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """``crossrank serve`` of ``model`` over a new 500-passage store: (url, process, db)."""
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "db"
        make_db(db)
        port = free_port()
        command = [sys.executable, "-m", "crossrank.cli", "serve", "--port", str(port),
                   "--db", str(db), "--reranker", model, *options]  # fmt: skip
        with running(command, port) as (url, server):
            yield url, server, db


@contextmanager
def running(command: list[str], port: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run a server until its ``/health`` answers 200; yield (url, process); then stop it."""
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # Its log goes to a file: an undrained pipe would block a server that logs each request.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_ready(url, server, log)
            yield url, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_ready(url: str, server: subprocess.Popen, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"{server.args[0]} exited: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit(f"{server.args[0]} did not start")


if __name__ == "__main__":
    main()

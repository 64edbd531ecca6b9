"""Serving: crossrank serve vs the same model in-process vs infinity-emb, 1/4/16 clients.

Each client sends one query with 20 mixed-length documents per request, back to back.
Prints pairs/s and p50/p95 latency per system and concurrency, and each one's share of
the in-process ceiling (``Reranker.score_many`` on all the clients' pairs at once). Then
the cold latency of ``crossrank ask --server`` vs ``crossrank ask``.
infinity-emb pins its own transformers: give its venv's ``infinity_emb`` with --infinity
(the README says how to make one); without it, its row is skipped.
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
from pathlib import Path

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
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "db"
        make_db(db)
        port = free_port()
        server = start(
            [sys.executable, "-m", "crossrank.cli", "serve", "--port", str(port), "--db", str(db),
             "--reranker", model, "--precision", args.precision], port,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            for clients in levels:
                rows.append(
                    (
                        "crossrank serve",
                        clients,
                        *load(url, "/v2/rerank", requests, clients, args.rounds),
                    )
                )
            cold(url, db, model, args.precision, args.cold_runs)
        finally:
            stop(server)
        if args.infinity:
            port = free_port()
            server = start(
                [args.infinity, "v2", "--model-id", model, "--engine", "torch", "--device", "cpu",
                 "--host", "127.0.0.1", "--port", str(port)], port, health="/health",
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}"
                for clients in levels:
                    rows.append(
                        (
                            "infinity-emb",
                            clients,
                            *load(url, "/rerank", requests, clients, args.rounds),
                        )
                    )
            finally:
                stop(server)
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


def start(command: list[str], port: int, health: str = "/health") -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{command[0]} exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit(f"{command[0]} did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


if __name__ == "__main__":
    main()

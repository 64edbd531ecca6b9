"""A ``crossrank serve`` replica on a Chroma server: start to first hybrid answer, with and
without ``--keyword-dir``.

Serves the plain-chromadb collection of ``foreign_collection.py`` (``--db``, built there)
with ``chroma run``, then starts ``crossrank serve --chroma`` on it three times: without a
keyword folder (the index is built in memory from every record, at every start), with an
empty ``--keyword-dir`` (built once and saved), and again with that folder (a restart:
opened as saved). For each: seconds from the process start to ``/ready`` 200 and to the
first ``/v1/search`` answer (hybrid, no reranking), asked as soon as ``/health`` answers.
Usage: python replica_restart.py --db .cache/foreign-100000 [--collection theirs] [--model M]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import free_port, start_chroma


def one_start(
    chroma: int, collection: str, model: str, keyword_dir: Path | None
) -> tuple[float, float]:
    """Seconds from the start of ``crossrank serve`` to /ready 200 and to a first answer."""
    port = free_port()
    command = [sys.executable, "-m", "crossrank.cli", "serve", "--port", str(port),
               "--chroma", f"http://127.0.0.1:{chroma}", "--collection", collection,
               "--model", model, "--no-rerank"]  # fmt: skip
    if keyword_dir is not None:
        command += ["--keyword-dir", str(keyword_dir)]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        command,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise RuntimeError("crossrank serve exited")
            time.sleep(0.1)
        search = {"query": "how do I leave a loop early", "retrieval": "hybrid", "top_n": 5}
        answer = httpx.post(f"{url}/v1/search", json=search, timeout=600)
        answer.raise_for_status()
        first = time.perf_counter() - started
        while httpx.get(f"{url}/ready", timeout=30).status_code != 200:
            time.sleep(0.1)
        return time.perf_counter() - started, first
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--collection", default="theirs")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args()
    chroma, port = start_chroma(args.db)
    try:
        import chromadb

        count = chromadb.HttpClient(port=port).get_collection(args.collection).count()
        print(f"{count:,} records in {args.collection!r}, served by chroma run")
        print("| start | /ready 200 | first hybrid answer |")
        print("|---|---|---|")
        with tempfile.TemporaryDirectory() as work:
            folder = Path(work) / "keyword"
            runs = [
                ("no --keyword-dir (in memory)", None),
                ("--keyword-dir, first start", folder),
                ("--keyword-dir, restart", folder),
            ]
            for label, keyword_dir in runs:
                ready, first = one_start(port, args.collection, args.model, keyword_dir)
                print(f"| {label} | {ready:.1f} s | {first:.1f} s |")
    finally:
        chroma.terminate()
        chroma.wait(60)


if __name__ == "__main__":
    main()

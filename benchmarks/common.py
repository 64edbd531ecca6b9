"""What the benchmark scripts share: the benchmark cross-encoder, passages, timing."""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from pydoc_data.topics import topics

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CACHE = Path(__file__).resolve().parent / ".cache"


def benchmark_cross_encoder() -> str:
    """A MiniLM-L6-sized cross-encoder: the bundled all-MiniLM-L6-v2 encoder + a fresh head.

    No trained cross-encoder can be downloaded here; this one costs exactly what
    cross-encoder/ms-marco-MiniLM-L-6-v2 costs (same architecture, max length 512).
    The test suite's smoke runs name a tiny one in ``CROSSRANK_BENCH_RERANKER`` instead:
    they check that a script runs and prints its figures, not the figures.
    """
    if os.environ.get("CROSSRANK_BENCH_RERANKER"):
        return os.environ["CROSSRANK_BENCH_RERANKER"]
    path = CACHE / "minilm-l6-cross-encoder"
    if not (path / "config.json").exists():
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from crossrank._models import bundled_model

        torch.manual_seed(0)
        source = str(bundled_model())
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
        tokenizer = AutoTokenizer.from_pretrained(source)
        tokenizer.model_max_length = 512
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return str(path)


def passages(n: int, low: int = 50, high: int = 400, seed: int = 0) -> list[str]:
    """``n`` real documentation passages (CPython's help topics) of ``low``-``high`` words."""
    rng = random.Random(seed)
    words = " ".join(topics[name] for name in sorted(topics)).split()
    out = []
    for _ in range(n):
        size = rng.randint(low, high)
        start = rng.randrange(0, len(words) - size)
        out.append(" ".join(words[start : start + size]))
    return out


def synthetic_records(
    begin: int, end: int, dimension: int, step: int
) -> Iterator[tuple[list[str], list[str], list[dict], np.ndarray]]:
    """The scale benchmarks' records ``begin`` to ``end``, ``step`` at a time: ``(ids, texts,
    metadatas, vectors)``; real passages as texts, a source per ten records, synthetic unit
    vectors (a store's cost does not depend on what they mean). The same for every run."""
    texts = passages(2000, low=50, high=200, seed=1)
    for start in range(begin, end, step):
        n = min(step, end - start)
        vectors = np.random.default_rng(start).standard_normal((n, dimension))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield (
            [f"c{start + i}" for i in range(n)],
            [texts[(start + i) % len(texts)] for i in range(n)],
            [{"source": f"doc{(start + i) // 10}"} for i in range(n)],
            vectors.astype(np.float32),
        )


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_chroma(path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    server = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat").raise_for_status()
            return server, port
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.5)

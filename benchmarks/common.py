"""What the benchmark scripts share: the benchmark cross-encoder, passages, timing."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from pydoc_data.topics import topics

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


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)

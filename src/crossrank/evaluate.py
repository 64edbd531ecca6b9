"""Evaluation on BEIR-format datasets: ranking quality and speed of each retrieval stage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._extras import require
from .beir import Dataset, index_corpus, load_beir
from .hit import SOURCE, Hit
from .pipeline import Pipeline
from .reranker import Reranker
from .store import Store

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
RECALL_CUTOFFS = (1, 2, 3, 5, 10, 20, 50, 100)


@dataclass(frozen=True)
class StageResult:
    """Metrics (plain floats), speed and ranked document ids of one retrieval stage."""

    metrics: dict[str, float]
    queries_per_second: float
    run: dict[str, list[str]]


def _documents(hits: Iterable[Hit]) -> list[str]:
    """Document ids in hit order, each once (a document ranks by its best chunk)."""
    return list(dict.fromkeys(str(hit.metadata[SOURCE]) for hit in hits))


def evaluate(
    store: Store,
    dataset: Dataset,
    *,
    reranker: Reranker | None = None,
    k: int = 50,
    depth: int = 100,
    retrievers: Mapping[str, Pipeline] | None = None,
) -> dict[str, StageResult]:
    """Evaluate each retriever (default: dense) and, with a reranker, each one + rerank.

    ``retrievers`` maps a stage name to a :class:`~crossrank.Pipeline` whose first stage
    (:meth:`~crossrank.Pipeline.retrieve`) is measured. A ``NAME+rerank`` stage reorders
    the top ``k`` candidates of ``NAME`` and keeps the rest of its ranking after them, so
    Recall@100 compares like with like.
    """
    retrievers = retrievers or {"dense": Pipeline(store, retrieval="dense")}
    queries = {qid: text for qid, text in dataset.queries.items() if qid in dataset.qrels}
    runs: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for name, pipeline in retrievers.items():
        for qid, text in queries.items():
            started = time.perf_counter()
            hits = pipeline.retrieve(text, max(k, depth))
            searched = time.perf_counter()
            runs.setdefault(name, {})[qid] = _documents(hits)[:depth]
            seconds[name] = seconds.get(name, 0.0) + searched - started
            if reranker is not None:
                reranked = _documents(reranker.rerank(text, hits[:k]) + hits[k:])[:depth]
                runs.setdefault(f"{name}+rerank", {})[qid] = reranked
                elapsed = time.perf_counter() - started
                seconds[f"{name}+rerank"] = seconds.get(f"{name}+rerank", 0.0) + elapsed
    return {
        stage: StageResult(
            metrics=metrics(dataset.qrels, run),
            queries_per_second=len(queries) / seconds[stage] if seconds[stage] else 0.0,
            run=run,
        )
        for stage, run in runs.items()
    }


def metrics(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str]],
    names: Sequence[str] = METRICS,
) -> dict[str, float]:
    """Mean metrics (``ndcg@10``, ``recall@100``, ``mrr@10``...) over the judged queries.

    Computed by ir-measures (trec_eval underneath); a ranked list's order is its ranking.
    """
    ir = require("ir_measures", "eval")
    measures = {
        "ndcg": ir.nDCG,
        "recall": ir.R,
        "mrr": ir.RR,
        "precision": ir.P,
    }
    wanted = {}
    for name in names:
        measure, _, cutoff = name.partition("@")
        wanted[name] = measures[measure] @ int(cutoff)
    judged = [ir.Qrel(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()]
    scored = [
        ir.ScoredDoc(q, d, float(len(ranked) - rank))
        for q, ranked in run.items()
        for rank, d in enumerate(ranked)
    ]
    found = ir.calc_aggregate(list(wanted.values()), judged, scored)
    return {name: float(found.get(measure, 0.0)) for name, measure in wanted.items()}


def plot(
    qrels: Mapping[str, Mapping[str, int]], results: Mapping[str, StageResult], path: str | Path
) -> None:
    """Save recall@k curves and nDCG@10 bars, one per stage, to an image file."""
    require("matplotlib", "eval").use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = [f"recall@{cutoff}" for cutoff in RECALL_CUTOFFS]
    for stage, result in results.items():
        recall = metrics(qrels, result.run, names)
        left.plot(RECALL_CUTOFFS, [recall[name] for name in names], marker="o", label=stage)
    left.set(xscale="log", xlabel="k", ylabel="recall@k", title="Recall@k", ylim=(0, 1))
    left.legend()
    stages = list(results)
    right.bar(stages, [results[stage].metrics["ndcg@10"] for stage in stages])
    right.set(ylabel="nDCG@10", title="nDCG@10", ylim=(0, 1))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


__all__ = [
    "METRICS",
    "Dataset",
    "StageResult",
    "evaluate",
    "index_corpus",
    "load_beir",
    "metrics",
    "plot",
]

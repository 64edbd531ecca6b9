"""Train a reranker on the dev set's own index, and measure it on held-out FAQ files.

Protocol (issue 9):
1. Base model: all-MiniLM-L6-v2's encoder with a fresh score head, trained on pseudo-queries
   (a section's heading path -> its first passage) from every non-FAQ page, with hard
   negatives mined by crossrank's hybrid retrieval. No FAQ text is a query here.
2. Labelled pairs: the base model is trained further on the questions of five FAQ files
   (their qrels), with 0, 25%, 50% and all of those questions: the gain curve.
3. Validation: the base model on the training files' questions (it never saw them), for
   choosing training settings without looking at the held-out files.
4. Held-out: the questions of the other three FAQ files. Each model reranks the top ``k``
   dense candidates; reported are dense, rerank and fused (weighted RRF of the rerank and
   dense ranks) nDCG@10, with paired bootstrap 95% CIs of the difference to dense.

Usage (after `make dataset`; about 30 min on 2 cores):
    python train_reranker.py --dataset .cache/python-docs --db .cache/python-docs-db \
        --work .cache/trained
Every stage is kept in --work and skipped when rerun.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import ir_measures
import numpy as np
from ir_measures import nDCG

from crossrank import Pipeline, Reranker, Store
from crossrank import evaluate as ev
from crossrank.errors import IngestError
from crossrank.reranker import select
from crossrank.train import STATE_FILE, add_to_card, gather, mine, qrels_examples, train

HELD_OUT = ("faq/programming", "faq/extending", "faq/windows")


def faq_file(query_id: str) -> str:
    return query_id.split("#")[0]


def trained(out: Path, rows: list[dict[str, str]], **options: object) -> None:
    report = train(rows, out, **options)  # type: ignore[arg-type]
    print(
        f"  trained {out.name}: {report.steps} steps, {report.seconds / 60:.1f} min, "
        f"{report.pairs_per_second} pairs/s"
    )


def bootstrap(diffs: np.ndarray, rounds: int = 10000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (rounds, len(diffs)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def per_query(qrels: dict[str, dict[str, int]], run: dict[str, list[str]]) -> dict[str, float]:
    scored = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in run.items()}
    values = {q: 0.0 for q in run}
    for metric in ir_measures.iter_calc([nDCG @ 10], qrels, scored):
        values[metric.query_id] = float(metric.value)
    return values


def compare(
    args: argparse.Namespace,
    store: Store,
    data: ev.Dataset,
    models: dict[str, Path],
    query_ids: list[str],
    label: str,
) -> list[str]:
    """Print (and return as Markdown rows) each model's rerank and fused nDCG@10 vs dense."""
    qrels = {q: data.qrels[q] for q in query_ids}
    dense = Pipeline(store, retrieval="dense")
    candidates = {q: dense.retrieve(data.queries[q], args.k) for q in query_ids}
    docs = {q: [str(h.metadata["source"]) for h in hits] for q, hits in candidates.items()}
    baseline = per_query(qrels, {q: list(dict.fromkeys(d)) for q, d in docs.items()})
    files = sorted({faq_file(q) for q in query_ids})
    print(f"\n{label}: {len(query_ids)} questions of {', '.join(files)}")
    print(
        f"{'model':<28} {'order':<7} {'nDCG@10':>8} {'vs dense':>9} {'95% CI':>18} {'pairs/s':>8}"
    )
    dense_ndcg = np.mean(list(baseline.values()))
    print(f"{'dense (no rerank)':<28} {'':<7} {dense_ndcg:8.4f}")
    lines = [f"| dense (no rerank) | - | {dense_ndcg:.4f} | | |"]
    for name, path in models.items():
        reranker = Reranker(str(path))
        runs: dict[str, dict[str, list[str]]] = {"rerank": {}, "fused": {}}
        started, pairs = time.perf_counter(), 0
        for q in query_ids:
            scores = reranker.score(data.queries[q], [h.text for h in candidates[q]])
            pairs += len(scores)
            orders = {
                "rerank": select(scores),
                "fused": select(scores, retrieval_weight=args.retrieval_weight),
            }
            for mode, order in orders.items():
                runs[mode][q] = list(dict.fromkeys(docs[q][i] for i, _ in order))
        speed = pairs / (time.perf_counter() - started)
        for mode, run in runs.items():
            values = per_query(qrels, run)
            diffs = np.array([values[q] - baseline[q] for q in query_ids])
            low, high = bootstrap(diffs)
            mean = np.mean(list(values.values()))
            print(
                f"{name:<28} {mode:<7} {mean:8.4f} {diffs.mean():+9.4f} "
                f"[{low:+.4f}, {high:+.4f}] {speed:8.1f}"
            )
            lines.append(
                f"| {name} | {mode} | {mean:.4f} | {diffs.mean():+.4f} | "
                f"[{low:+.4f}, {high:+.4f}] |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--base-examples", type=int, default=2600)
    parser.add_argument("--base-minutes", type=float, default=35)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--labelled-epochs", type=float, default=4)
    parser.add_argument("--max-length", type=int, default=192, help="tokens per training pair")
    parser.add_argument("--k", type=int, default=20, help="dense candidates reranked")
    parser.add_argument("--retrieval-weight", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = ev.load_beir(args.dataset)
    store = Store(args.db)
    if store.count() == 0:
        ev.index_corpus(store, data, progress=True)
    hybrid = Pipeline(store)
    options = {
        "learning_rate": args.learning_rate,
        "max_length": args.max_length,
        "seed": args.seed,
        "progress": True,
    }

    # 1. Pseudo-queries from every page but the FAQ.
    faq_sections = {s for doc, s in data.sections.items() if doc.startswith("faq/")}
    try:
        pseudo, _ = gather(
            store, max_examples=args.base_examples, exclude_sections=faq_sections, seed=args.seed
        )
    except IngestError:
        raise SystemExit(f"{args.db} has no sections: rebuild it with `make dataset`") from None
    base = args.work / "base"
    if not (base / STATE_FILE).exists():
        started = time.perf_counter()
        rows = mine(hybrid, pseudo, seed=args.seed, progress=True)
        print(f"mined {len(rows)} pseudo-query rows in {time.perf_counter() - started:.0f} s")
        trained(
            base, rows, max_minutes=args.base_minutes, data={"pseudo-queries": len(rows)}, **options
        )

    # 2. Labelled FAQ questions of the training files, in growing subsets.
    train_ids = sorted(q for q in data.qrels if faq_file(q) not in HELD_OUT)
    test_ids = sorted(q for q in data.qrels if faq_file(q) in HELD_OUT)
    random.Random(args.seed).shuffle(train_ids)
    models = {"base (0 labelled)": base}
    for share in (0.25, 0.5, 1.0):
        ids = train_ids[: round(share * len(train_ids))]
        out = args.work / f"labelled-{len(ids)}"
        if not (out / STATE_FILE).exists():
            rows = mine(hybrid, qrels_examples(store, data, ids), seed=args.seed)
            trained(
                out,
                rows,
                base=str(base),
                epochs=args.labelled_epochs,
                data={"labelled FAQ questions": len(ids), "rows": len(rows)},
                **options,
            )
        models[f"+{len(ids)} labelled questions"] = out

    # 3. Validation (the training files' questions, which the base model never saw): base
    # model only. Then the held-out files: every model. Dense vs rerank vs fused.
    compare(args, store, data, {"base (0 labelled)": base}, train_ids, "validation")
    lines = compare(args, store, data, models, test_ids, "held-out")
    final = models[list(models)[-1]]
    report = json.loads((final / STATE_FILE).read_text())
    add_to_card(
        final,
        "\n".join(
            [
                "## Evaluation (crossrank benchmarks/train_reranker.py)",
                "",
                f"Held-out: {len(test_ids)} questions of {', '.join(HELD_OUT)} (Python 3.11 FAQ), "
                f"top {args.k} dense candidates. Fused = weighted RRF of the rerank and dense "
                f"ranks (retrieval weight {args.retrieval_weight}).",
                "",
                "| model | order | nDCG@10 | vs dense | paired bootstrap 95% CI |",
                "|---|---|---|---|---|",
                *lines,
            ]
        ),
    )
    print(f"\nfinal model: {final} ({report['steps']} steps)")


if __name__ == "__main__":
    main()

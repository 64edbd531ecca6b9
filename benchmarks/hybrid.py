"""Hybrid retrieval on the dev set: weights tuned on half the queries, reported on the other.

1. The judged queries are split in two by id (alternating). On the tuning half, weighted RRF
   and convex fusion are tried over a grid of dense weights (bm25 gets 1 - w; w = 1 is dense
   alone); the best nDCG@10 of each is kept.
2. On the held-out half, dense, bm25, hybrid (chosen weights, RRF and convex), hybrid with
   equal weights, and MMR are evaluated through crossrank's own Pipeline.
3. The same stages run on a keyword-heavy query set built from the corpus: dotted Python
   names (``os.path.commonpath``, ``str.removeprefix``...) found in at most 3 passages, asked
   as questions; the passages containing the name are the relevant ones.
Usage: python benchmarks/hybrid.py --dataset DIR [--db DB] [--keyword-queries N]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from collections import Counter

from crossrank import Encoder, Pipeline, Store
from crossrank import evaluate as ev
from crossrank.fusion import convex, reciprocal_rank

GRID = (0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)  # 1.0: dense alone
NAME = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+\b")
TEMPLATES = ("What does {} do?", "How do I use {}?", "When should I call {}?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="A BEIR-format folder (make dataset).")
    parser.add_argument("--db", default=None, help="Its crossrank store, if already indexed.")
    parser.add_argument("--keyword-queries", type=int, default=100)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()

    data = ev.load_beir(args.dataset)
    judged = sorted(data.qrels)
    tune = subset(data, judged[0::2])
    held_out = subset(data, judged[1::2])
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(args.db or scratch, encoder=Encoder(device="cpu", precision="fp32"))
        ev.index_corpus(store, data, progress=True)

        chosen = {
            fusion: tune_weights(store, tune, fusion, args.depth) for fusion in ("rrf", "convex")
        }
        print(f"tuning half ({len(tune.qrels)} queries): nDCG@10 by dense weight")
        for fusion, (best, table) in chosen.items():
            cells = "  ".join(f"{w:g}: {score:.4f}" for w, score in table.items())
            print(f"  {fusion:6s} {cells}   -> dense {best:g}, bm25 {1 - best:.2g}")

        rrf, best_convex = chosen["rrf"][0], chosen["convex"][0]
        stages = {
            "dense": Pipeline(store, retrieval="dense"),
            "bm25": Pipeline(store, retrieval="bm25"),
            "hybrid rrf (chosen)": Pipeline(store, fusion="rrf", weights=w(rrf)),
            "hybrid convex (chosen)": Pipeline(store, fusion="convex", weights=w(best_convex)),
            "hybrid rrf (equal)": Pipeline(store, fusion="rrf", weights=w(0.5)),
            "dense + mmr 0.7": Pipeline(store, retrieval="dense", mmr=0.7),
            "hybrid convex (chosen) + mmr 0.7": Pipeline(
                store, fusion="convex", weights=w(best_convex), mmr=0.7
            ),
        }
        report(f"held-out half ({len(held_out.qrels)} FAQ questions)", store, held_out, stages)
        keywords = keyword_queries(data, args.keyword_queries)
        report(f"keyword set ({len(keywords.qrels)} queries)", store, keywords, stages)


def subset(data: ev.Dataset, qids: list[str]) -> ev.Dataset:
    return ev.Dataset(data.corpus, data.queries, {q: data.qrels[q] for q in qids})


def w(dense: float) -> dict[str, float]:
    return {"dense": dense, "bm25": round(1 - dense, 2)}


def tune_weights(
    store: Store, data: ev.Dataset, fusion: str, depth: int
) -> tuple[float, dict[float, float]]:
    """Best dense weight on ``data`` (each retriever queried once, fused for every weight)."""
    found = {}
    for qid in data.qrels:
        query = data.queries[qid]
        found[qid] = {
            "dense": store.search(query, depth),
            "bm25": store.bm25.search(query, depth),
        }
    table = {}
    for dense in GRID:
        run = {}
        for qid, hits in found.items():
            if fusion == "rrf":
                rankings = {name: [h.id for h in found_] for name, found_ in hits.items()}
                fused = reciprocal_rank(rankings, w(dense))
            else:
                scores = {name: {h.id: h.retrieval_score for h in f} for name, f in hits.items()}
                fused = convex(scores, w(dense))
            sources = {h.id: h.metadata["source"] for f in hits.values() for h in f}
            run[qid] = list(dict.fromkeys(sources[i] for i in fused))[:depth]
        table[dense] = ev.metrics(data.qrels, run, ["ndcg@10"])["ndcg@10"]
    best = max(table, key=lambda dense: (table[dense], dense))  # ties: the more dense one
    return best, table


def keyword_queries(data: ev.Dataset, n: int, seed: int = 0) -> ev.Dataset:
    """Questions about dotted Python names that occur in 1-3 passages of the corpus."""
    where: dict[str, set[str]] = {}
    for doc_id, (title, text) in data.corpus.items():
        for name in set(NAME.findall(f"{title}\n{text}")):
            where.setdefault(name, set()).add(doc_id)
    counts = Counter({name: len(docs) for name, docs in where.items()})
    names = sorted(
        name for name, count in counts.items() if count <= 3 and len(name) >= 8 and "__" not in name
    )
    picked = random.Random(seed).sample(names, min(n, len(names)))
    queries = {
        f"kw{i}": TEMPLATES[i % len(TEMPLATES)].format(name) for i, name in enumerate(picked)
    }
    qrels = {f"kw{i}": {doc: 1 for doc in where[name]} for i, name in enumerate(picked)}
    return ev.Dataset(data.corpus, queries, qrels)


def report(title: str, store: Store, data: ev.Dataset, stages: dict[str, Pipeline]) -> None:
    results = ev.evaluate(store, data, retrievers=stages)
    print(f"\n{title}")
    print(f"  {'stage':32s} " + " ".join(f"{m:>10s}" for m in ev.METRICS) + "  queries/s")
    for name, result in results.items():
        cells = " ".join(f"{result.metrics[m]:10.4f}" for m in ev.METRICS)
        print(f"  {name:32s} {cells}  {result.queries_per_second:9.1f}")


if __name__ == "__main__":
    main()

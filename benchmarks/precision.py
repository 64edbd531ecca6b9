"""Fast mode's cost in quality and its gain in speed: bf16 against fp32 (exact), both models.

Reranker: each judged query's top --k dense candidates are reranked by the exact and by the
fast model; prints the mean top-5 overlap (fast vs exact), nDCG@10 of dense+rerank for each
and the change, and pairs/s. Encoder: --passages corpus passages and all queries are embedded
both ways; prints passages/s of each and the mean recall@10 agreement (each query's top 10
among those passages, fast vs exact).
The benchmark cross-encoder's fresh head gives logits near 0, where bf16 is most precise;
--head-scale S multiplies its head so logits spread like a trained reranker's (the printed
standard deviation; ms-marco-MiniLM-L-6-v2's logits span about -11 to +11).
Usage: python benchmarks/precision.py --dataset DIR [--db DB] [--reranker PATH] [--k K]
       [--head-scale S] [--skip-encoder] [--skip-reranker]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crossrank import Encoder, Reranker, Store
from crossrank import evaluate as ev

from common import CACHE, benchmark_cross_encoder, passages


def scaled_head(model: str, scale: float) -> str:
    """A copy of cross-encoder ``model`` whose score head is multiplied by ``scale``."""
    from sentence_transformers import CrossEncoder

    path = CACHE / f"{Path(model).name}-head-x{scale:g}"
    if not (path / "config.json").exists():
        encoder = CrossEncoder(model, device="cpu")
        head = encoder.model.classifier
        head.weight.data *= scale
        head.bias.data *= scale
        encoder.save_pretrained(str(path))
    reranker = Reranker(str(path), device="cpu", precision="fp32")
    pairs = [("How do I leave a loop early?", text) for text in passages(64, 20, 120)]
    logits = reranker.model.predict(pairs, activation_fn=torch.nn.Identity())
    print(f"head x{scale:g}: logit standard deviation {float(np.std(logits)):.2f}")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="A BEIR-format folder (make dataset).")
    parser.add_argument("--db", default=None, help="Its crossrank store, if already indexed.")
    parser.add_argument("--reranker", default=None, help="Cross-encoder (default: benchmark's).")
    parser.add_argument("--k", type=int, default=20, help="Candidates reranked per query.")
    parser.add_argument("--queries", type=int, default=None, help="Use only the first Q.")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--head-scale", type=float, default=None)
    parser.add_argument("--skip-encoder", action="store_true")
    parser.add_argument("--skip-reranker", action="store_true")
    args = parser.parse_args()

    data = ev.load_beir(args.dataset)
    if args.queries:
        kept = sorted(data.qrels)[: args.queries]
        data = ev.Dataset(data.corpus, data.queries, {q: data.qrels[q] for q in kept})
    if not args.skip_reranker:
        compare_rerankers(args, data)
    if not args.skip_encoder:
        compare_encoders(args, data)


def compare_rerankers(args: argparse.Namespace, data: ev.Dataset) -> None:
    model = args.reranker or benchmark_cross_encoder()
    if args.head_scale:
        model = scaled_head(model, args.head_scale)
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(args.db or scratch, encoder=Encoder(device="cpu", precision="fp32"))
        ev.index_corpus(store, data, progress=True)
        runs = {
            precision: ev.evaluate(
                store, data, reranker=Reranker(model, device="cpu", precision=precision), k=args.k
            )["dense+rerank"]
            for precision in ("fp32", "bf16")
        }
    exact, fast = runs["fp32"], runs["bf16"]
    overlap = np.mean([len(set(exact.run[q][:5]) & set(fast.run[q][:5])) / 5 for q in exact.run])
    pairs = args.k * len(exact.run)
    print(f"reranker {model}: {len(exact.run)} queries x {args.k} candidates")
    for name, result in runs.items():
        print(
            f"  {name}: nDCG@10 {result.metrics['ndcg@10']:.4f}, "
            f"{pairs * result.queries_per_second / len(result.run):.1f} pairs/s"
        )
    change = fast.metrics["ndcg@10"] - exact.metrics["ndcg@10"]
    print(
        f"  bf16 vs fp32: mean top-5 overlap {overlap:.3f} (target >= 0.9), "
        f"nDCG@10 change {change:+.4f} (target within 0.005), "
        f"speed {fast.queries_per_second / exact.queries_per_second:.2f}x"
    )


def compare_encoders(args: argparse.Namespace, data: ev.Dataset) -> None:
    texts = [f"{title}\n{text}".strip() for title, text in list(data.corpus.values())]
    texts = texts[: args.passages]
    queries = [data.queries[q] for q in sorted(data.qrels)]
    top, speed = {}, {}
    for precision in ("fp32", "bf16"):
        encoder = Encoder(device="cpu", precision=precision).load()
        encoder.embed(texts[:64])  # warm up
        started = time.perf_counter()
        vectors = encoder.embed(texts)
        speed[precision] = len(texts) / (time.perf_counter() - started)
        similarity = encoder.embed(queries) @ vectors.T
        top[precision] = np.argsort(-similarity, axis=1)[:, :10]
    agreement = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(top["fp32"], top["bf16"], strict=True)]
    )
    print(f"encoder all-MiniLM-L6-v2: {len(texts)} passages, {len(queries)} queries")
    for precision, rate in speed.items():
        print(f"  {precision}: {rate:.1f} passages/s")
    print(
        f"  bf16 vs fp32: {speed['bf16'] / speed['fp32']:.2f}x passages/s (target >= 2), "
        f"recall@10 agreement {agreement:.3f} (target >= 0.99)"
    )


if __name__ == "__main__":
    main()

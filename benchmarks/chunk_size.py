"""Retrieval quality and indexing speed against chunk size: what the default chunk cap is.

The Python-docs dev set built with whole sections as documents (``python
datasets/python_docs.py .cache/python-docs-sections --words 100000``), the judged
sections and a random sample of the others, chunked at each size and embedded with
all-MiniLM-L6-v2 read at up to 512 tokens (its position limit). A hit counts for its
section (a document ranks by its best chunk), so the sizes are compared on the same
documents and judgements: nDCG@10, recall@50, chunks, and embedding throughput.

Usage:
    python chunk_size.py --dataset .cache/python-docs-sections [--sizes 128,256,384,510]
"""

from __future__ import annotations

import argparse
import random
import time

from crossrank import Encoder, Pipeline, Store
from crossrank.beir import Dataset, load_beir
from crossrank.evaluate import evaluate, metrics
from crossrank.ingest import chunk_document


def subset(dataset: Dataset, others: int, seed: int) -> Dataset:
    judged = {doc for docs in dataset.qrels.values() for doc in docs}
    rest = sorted(set(dataset.corpus) - judged)
    keep = judged | set(random.Random(seed).sample(rest, min(others, len(rest))))
    corpus = {doc: dataset.corpus[doc] for doc in sorted(keep)}
    return Dataset(corpus, dataset.queries, dataset.qrels, dataset.sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--sizes", default="128,256,384,510")
    parser.add_argument("--others", type=int, default=600, help="unjudged sections kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = subset(load_beir(args.dataset), args.others, args.seed)
    encoder = Encoder(max_length=512, precision="fp32", device="cpu")
    tokenizer = encoder.model.tokenizer
    words = sum(len(f"{t} {x}".split()) for t, x in dataset.corpus.values())
    print(f"{len(dataset.corpus)} sections ({words:,} words), {len(dataset.queries)} queries")
    print("| chunk tokens | chunks | nDCG@10 | recall@50 | embed s | chunks/s | tokens/s |")
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        store = Store(collection=f"size{size}", encoder=encoder, in_memory=True)
        chunks = []
        for doc, (title, text) in dataset.corpus.items():
            chunks += chunk_document(doc, f"{title}\n{text}".strip(), tokenizer, size, 32)
        tokens = sum(len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) for c in chunks)
        started = time.perf_counter()
        store.add(chunks)
        seconds = time.perf_counter() - started
        result = evaluate(store, dataset, k=50, depth=100, retrievers={"dense": Pipeline(store)})
        found = metrics(dataset.qrels, result["dense"].run, ["ndcg@10", "recall@50"])
        print(
            f"| {size} | {len(chunks)} | {found['ndcg@10']:.4f} | {found['recall@50']:.4f} "
            f"| {seconds:.1f} | {len(chunks) / seconds:.1f} | {tokens / seconds:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

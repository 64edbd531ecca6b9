"""Reranking throughput against window length on a long-context cross-encoder.

A MiniLM-L6-shaped BERT cross-encoder (384 wide, 6 layers, random weights) given 8,192
position embeddings, as long-context rerankers have, reads the same long passages with
``max_length`` = each window length. Attention grows with the square of the window, the
rest linearly: the figures say which window reads passages fastest on this CPU, the
default :data:`crossrank.reranker.WINDOW_TOKENS`. Time is the process's CPU time on one
thread (``time.process_time``), so other work on a shared machine moves it little; the
lengths take turns, a median of ``--repeats``.

Usage:
    python window_length.py [--lengths 256,512,1024,2048,4096] [--tokens 16000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

from crossrank import Reranker
from crossrank._models import bundled_model


def build(folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model()))
    tokenizer.model_max_length = 8192
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=8192,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="256,512,1024,2048,4096")
    parser.add_argument("--tokens", type=int, default=4096, help="tokens of each of 4 passages")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        path = build(Path(work) / "ce")
        text = " ".join(" ".join(topics[name].split()) for name in sorted(topics))
        probe = Reranker(path, precision=args.precision, device="cpu")
        ids = probe.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        per = args.tokens
        offsets = ids["offset_mapping"]
        passages = [text[offsets[i * per][0] : offsets[(i + 1) * per - 1][1]] for i in range(4)]
        query = "How do I leave a loop early?"
        print(f"4 passages of {per:,} tokens, {args.precision}, 1 thread, CPU time")
        print("| window | windows | tokens read | CPU s | passage tokens/s | vs best |")
        print("|---|---|---|---|---|---|")
        rerankers = {
            length: Reranker(path, precision=args.precision, device="cpu", max_length=length)
            for length in (int(n) for n in args.lengths.split(","))
        }
        for reranker in rerankers.values():
            reranker.score(query, passages)  # warm-up: each window's shapes
        times: dict[int, list[float]] = {length: [] for length in rerankers}
        for _ in range(args.repeats):  # interleaved, so a busy moment hits every length
            for length, reranker in rerankers.items():
                started = time.process_time()
                reranker.score(query, passages)
                times[length].append(time.process_time() - started)
        rows = []
        for length, reranker in rerankers.items():
            windows = [w for p in passages for w in reranker.windows(query, p)]
            seconds = statistics.median(times[length])
            rows.append((length, len(windows), len(windows) * length, seconds, 4 * per / seconds))
        best = max(row[4] for row in rows)
        for length, count, read, seconds, rate in rows:
            print(
                f"| {length} | {count} | {read:,} | {seconds:.2f} | {rate:,.0f} "
                f"| {rate / best:.2f}x |"
            )


if __name__ == "__main__":
    main()

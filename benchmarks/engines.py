"""Engines: torch vs OpenVINO under crossrank, against the peers, at equal work, in one run.

Reranking: the MiniLM-L6-sized cross-encoder scores the windows crossrank cuts from
rerank_cost's 100 candidates (each fits 512 tokens), so every reranker computes the same
sequences: crossrank exact (fp32) and fast (bf16) on torch and on OpenVINO
(``crossrank.engine``), LlamaIndex's ``SentenceTransformerRerank`` (fp32), and
sentence-transformers' ``CrossEncoder`` loaded in bf16 (``model_kwargs={"torch_dtype":
torch.bfloat16}``, its own length-sorted batches): the best setup a peer user can write.
Indexing: crossrank ``Encoder.embed`` on torch and OpenVINO vs ``SentenceTransformer.encode``
on the same chunks (all-MiniLM-L6-v2, fp32), and the bf16 encoder's top-10 agreement.
The engines alternate within each repetition (the cores are shared: paired ratios, taken
within one repetition, are steadier than medians of times); the roofline, a 2048² matmul, is
measured between repetitions. Also prints the bucket ladder's padding and shape count, and
the OpenVINO warm-up of a fresh process, with an empty and with a filled graph cache.
Usage: python benchmarks/engines.py [--candidates N] [--chunks N] [--repeats R]
       [--skip-peers] [--skip-encoder] [--skip-warm-up]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pydoc_data.topics import topics

import numpy as np
from rerank_cost import QUERY, gflop

from common import benchmark_cross_encoder, passages

os.environ.setdefault("CROSSRANK_ENGINE", "torch")  # every engine below is chosen explicitly
TORCH_KEY = {"model_kwargs": {"attn_implementation": "sdpa"}}  # torch's default; its own key


def roofline(repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of a 2048² matrix product in fp32 and bf16 (median of ``repeats``)."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(2048, 2048).to(dtype), torch.randn(2048, 2048).to(dtype)
        a @ b
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - started)
        out[name] = 2 * 2048**3 / statistics.median(times) / 1e9
    return out


def possible_shapes(lengths: tuple[int, ...], max_tokens: int = 4096, max_size: int = 32) -> int:
    """How many (batch size, length) shapes crossrank's batching can give the model."""
    count = 0
    for length in lengths:
        room = max(1, min(max_size, max_tokens // length))
        count += (1 << (room.bit_length() - 1)).bit_length()  # sizes 1, 2, 4, ... room
    return count


def ladder_report(tokens: list[int]) -> None:
    import crossrank.reranker as reranker

    def computed(ladder: tuple[int, ...]) -> int:
        saved, reranker.LENGTHS = reranker.LENGTHS, ladder
        try:
            padded = [reranker.padded_length(n, 512) for n in tokens]
            batches = reranker.token_batches(padded, 4096, 32)
            return sum(len(b) * max(padded[i] for i in b) for b in batches)
        finally:
            reranker.LENGTHS = saved

    base = computed(())
    print(f"ladder: {len(tokens)} windows, {sum(tokens):,} tokens; unbucketed computes {base:,}")
    ladders = {
        "crossrank.reranker.LENGTHS": reranker.LENGTHS,
        "12 steps (before)": (32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512),
        "multiples of 32": tuple(range(32, 513, 32)),
        "multiples of 16": tuple(range(16, 513, 16)),
        "multiples of 8": tuple(range(8, 513, 8)),
    }
    for name, ladder in ladders.items():
        cost = computed(ladder)
        print(
            f"  {name:28s} {len(ladder):3d} lengths, {possible_shapes(ladder):3d} possible shapes: "
            f"computes {cost:,} ({cost / base - 1:+.1%})"
        )


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> tuple[dict, list]:
    """Times of each run per repetition, the runs alternating; and the rooflines."""
    for run in runs.values():
        run()  # warm-up: every shape once
    times: dict[str, list[float]] = {name: [] for name in runs}
    roofs = []
    for _ in range(repeats):
        roofs.append(roofline())
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times, roofs


def paired(times: dict[str, list[float]], a: str, b: str) -> str:
    """``b``'s time over ``a``'s, per repetition: median, and the range (the noise)."""
    ratios = sorted(y / x for x, y in zip(times[a], times[b], strict=True))
    return f"{statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f})"


def rerankers(args: argparse.Namespace) -> None:
    import torch
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode
    from sentence_transformers import CrossEncoder

    from crossrank import Hit, Reranker, engine

    model = benchmark_cross_encoder()
    exact = Reranker(model, device="cpu", max_length=512, precision="fp32", model_kwargs=TORCH_KEY)
    fast = Reranker(model, device="cpu", max_length=512, precision="bf16", model_kwargs=TORCH_KEY)
    texts = passages(args.candidates)
    windows = [t[a:b] for t in texts for a, b in exact.windows(QUERY, t)]
    tokenizer = exact.model.tokenizer
    tokens = [len(ids) for ids in tokenizer([QUERY] * len(windows), windows)["input_ids"]]
    ladder_report(tokens)
    work = gflop(tokens)
    hits = [Hit(f"w{i}", text) for i, text in enumerate(windows)]

    exact_ov = Reranker(model, device="cpu", max_length=512, precision="fp32").load()
    fast_ov = Reranker(model, device="cpu", max_length=512, precision="bf16").load()
    for reranker, precision in ((exact_ov, "fp32"), (fast_ov, "bf16")):
        engine.accelerate(
            reranker.model, kind="reranker", precision=precision, device="cpu", engine="openvino"
        )
    runs: dict[str, Callable[[], object]] = {
        "crossrank exact, torch": lambda: exact.rerank(QUERY, hits, top_n=5),
        "crossrank exact, OpenVINO": lambda: exact_ov.rerank(QUERY, hits, top_n=5),
        "crossrank fast, torch": lambda: fast.rerank(QUERY, hits, top_n=5),
        "crossrank fast, OpenVINO": lambda: fast_ov.rerank(QUERY, hits, top_n=5),
    }
    if not args.skip_peers:
        nodes = [NodeWithScore(node=TextNode(id_=h.id, text=h.text)) for h in hits]
        llama = SentenceTransformerRerank(model=model, top_n=5, device="cpu")
        peer = CrossEncoder(model, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
        pairs = [(QUERY, text) for text in windows]
        runs["LlamaIndex SentenceTransformerRerank"] = lambda: llama.postprocess_nodes(
            nodes, query_str=QUERY
        )
        runs["sentence-transformers CrossEncoder bf16"] = lambda: peer.predict(pairs)

    truth = np.array(exact.score(QUERY, windows))
    for name, reranker in (
        ("exact, OpenVINO", exact_ov),
        ("fast, torch", fast),
        ("fast, OpenVINO", fast_ov),
    ):
        found = np.array(reranker.score(QUERY, windows))
        top = len(set(np.argsort(-found)[:5]) & set(np.argsort(-truth)[:5]))
        print(
            f"crossrank {name} vs exact on torch: max score difference "
            f"{np.abs(found - truth).max():.1e}, top-5 {top}/5"
        )
    times, roofs = interleaved(runs, args.repeats)
    fp32 = statistics.median(r["fp32"] for r in roofs)
    bf16 = statistics.median(r["bf16"] for r in roofs)
    print(
        f"{len(windows)} windows of {args.candidates} candidates, {sum(tokens):,} tokens, "
        f"{work:.0f} GFLOP; median of {args.repeats}; 2048² matmul: fp32 {fp32:.0f} GFLOP/s, "
        f"bf16 {bf16:.0f} GFLOP/s (range fp32 {min(r['fp32'] for r in roofs):.0f}-"
        f"{max(r['fp32'] for r in roofs):.0f})"
    )
    for name, taken in times.items():
        took = statistics.median(taken)
        print(
            f"  {name:40s} {took:6.2f} s (range {min(taken):.2f}-{max(taken):.2f})  "
            f"{work / took:5.0f} GFLOP/s = {work / took / fp32:4.0%} of the fp32 matmul"
        )
    print("ratios (speed, paired per repetition):")
    ours = "crossrank {}, {}".format
    for mode in ("exact", "fast"):
        ratio = paired(times, ours(mode, "OpenVINO"), ours(mode, "torch"))
        print(f"  {mode:5s} OpenVINO / torch           {ratio}")
    if not args.skip_peers:
        li, st = "LlamaIndex SentenceTransformerRerank", "sentence-transformers CrossEncoder bf16"
        for mode in ("exact", "fast"):
            for where in ("torch", "OpenVINO"):
                ratio = paired(times, ours(mode, where), li)
                print(f"  {mode:5s} on {where:8s} / LlamaIndex  {ratio}")
        for where in ("torch", "OpenVINO"):
            print(f"  fast  on {where:8s} / ST bf16     {paired(times, ours('fast', where), st)}")


def encoders(args: argparse.Namespace) -> None:
    from sentence_transformers import SentenceTransformer

    from crossrank import Encoder, engine
    from crossrank._models import bundled_model
    from crossrank.ingest import chunk_document

    torch_options = {"model_kwargs": {"use_safetensors": True, "attn_implementation": "sdpa"}}
    torch_encoder = Encoder(device="cpu", precision="fp32", model_kwargs=torch_options)
    ov_encoder = Encoder(device="cpu", precision="fp32")
    bf16_encoder = Encoder(device="cpu", precision="bf16")
    for encoder, precision in ((ov_encoder, "fp32"), (bf16_encoder, "bf16")):
        engine.accelerate(
            encoder.model, kind="encoder", precision=precision, device="cpu", engine="openvino"
        )
    tokenizer = torch_encoder.model.tokenizer
    chunks = [
        chunk.text
        for name in sorted(topics)
        for chunk in chunk_document(name, topics[name], tokenizer, torch_encoder.chunk_tokens, 32)
    ][: args.chunks]
    peer = SentenceTransformer(str(bundled_model()), device="cpu")
    runs: dict[str, Callable[[], object]] = {
        "crossrank Encoder.embed, torch": lambda: torch_encoder.embed(chunks),
        "crossrank Encoder.embed, OpenVINO": lambda: ov_encoder.embed(chunks),
        "crossrank Encoder.embed, OpenVINO bf16": lambda: bf16_encoder.embed(chunks),
        "SentenceTransformer.encode": lambda: peer.encode(chunks, batch_size=32),
    }
    exact = torch_encoder.embed(chunks)
    for name, encoder in (("OpenVINO fp32", ov_encoder), ("OpenVINO bf16", bf16_encoder)):
        found = encoder.embed(chunks)
        # Each chunk as a query against all chunks: top-10 agreement with exact torch.
        top_exact = np.argsort(-(exact @ exact.T), axis=1)[:, 1:11]
        top_found = np.argsort(-(found @ found.T), axis=1)[:, 1:11]
        tops = (top_exact, top_found)
        agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(*tops, strict=True)])
        print(
            f"encoder {name} vs torch fp32: max difference {np.abs(found - exact).max():.1e}, "
            f"top-10 agreement {agree:.3f} (chunks as queries)"
        )
    times, _ = interleaved(runs, args.repeats)
    print(f"indexing: {len(chunks)} chunks, median of {args.repeats}")
    for name, taken in times.items():
        print(f"  {name:40s} {len(chunks) / statistics.median(taken):6.1f} chunks/s")
    for name in ("torch", "OpenVINO", "OpenVINO bf16"):
        print(
            f"  Encoder.embed, {name:13s} / SentenceTransformer.encode  "
            f"{paired(times, f'crossrank Encoder.embed, {name}', 'SentenceTransformer.encode')}"
        )


def warm_up_child(precision: str, candidates: int) -> None:
    """In a fresh process: load the reranker on OpenVINO and on torch, time both and the
    first call over every shape the candidates give."""
    import sentence_transformers  # noqa: F401  (imports are not warm-up)

    from crossrank import Reranker, engine

    model = benchmark_cross_encoder()
    texts = passages(candidates)
    out = {}
    for name in ("torch", "openvino"):
        started = time.perf_counter()
        reranker = Reranker(model, device="cpu", max_length=512, precision=precision).load()
        engine.accelerate(
            reranker.model, kind="reranker", precision=precision, device="cpu", engine=name
        )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        reranker.score(QUERY, texts)
        first = time.perf_counter() - started
        started = time.perf_counter()
        reranker.score(QUERY, texts)
        out[name] = (loaded, first, time.perf_counter() - started)
        import crossrank._models

        crossrank._models._cache.clear()
    (tl, tf, ts), (ol, of, os_) = out["torch"], out["openvino"]
    # OpenVINO's own extra: its load beyond torch's, and its first call beyond its second.
    extra = (ol - tl) + max(0.0, of - os_)
    print(
        f"WARMUP load torch {tl:.1f} s, OpenVINO {ol:.1f} s; first call torch {tf:.1f} s "
        f"(then {ts:.1f}), OpenVINO {of:.1f} s (then {os_:.1f}); OpenVINO's extra warm-up "
        f"{extra:.1f} s"
    )


def warm_up(precision: str, candidates: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        for label in ("empty graph cache", "filled graph cache"):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--warm-up-child",
                    precision,
                    "--candidates",
                    f"{candidates}",
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "CROSSRANK_CACHE_DIR": cache},
            )
            line = next(x for x in done.stdout.splitlines() if x.startswith("WARMUP"))
            print(f"warm-up, {precision}, fresh process, {label}: {line[7:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-encoder", action="store_true")
    parser.add_argument("--skip-warm-up", action="store_true")
    parser.add_argument("--warm-up-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_up_child:
        warm_up_child(args.warm_up_child, args.candidates)
        return
    from crossrank import engine

    print(f"CPU kind: {engine.cpu_kind()}; torch threads: {__import__('torch').get_num_threads()}")
    picks = [
        f"{kind} {precision}: {engine.choose('auto', kind=kind, precision=precision, device='cpu')}"
        for kind in ("reranker", "encoder")
        for precision in ("fp32", "bf16")
    ]
    print(f"engine='auto' picks, for BERT-like models on this CPU: {'; '.join(picks)}")
    rerankers(args)
    if not args.skip_encoder:
        encoders(args)
    if not args.skip_warm_up:
        for precision in ("fp32", "bf16"):
            warm_up(precision, args.candidates)


if __name__ == "__main__":
    main()

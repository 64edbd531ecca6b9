"""Rerank cost: crossrank vs LlamaIndex and LangChain rerankers on the same 100 candidates.

All use the same MiniLM-L6-sized cross-encoder and max length 512. crossrank runs in exact
mode (fp32) and fast mode (bf16), each also with its batches padded to their longest pair
(unbucketed, as before ``crossrank.reranker.LENGTHS``). Prints the median time per 100
candidates, each one's speed relative to LlamaIndex's SentenceTransformerRerank, how far
exact and fast scores are from an unbatched fp32 reference, the top-5 agreement, and the
tokens each one computes.
Usage: python benchmarks/rerank_cost.py [--candidates N] [--repeats R]
"""

from __future__ import annotations

import argparse

import numpy as np

from common import benchmark_cross_encoder, median_seconds, passages

QUERY = "How do I catch an exception and re-raise it with more context?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode

    import crossrank.reranker
    from crossrank import Hit, Reranker

    model = benchmark_cross_encoder()
    texts = passages(args.candidates)
    ids = [f"p{i}" for i in range(len(texts))]
    hits = [Hit(i, t) for i, t in zip(ids, texts, strict=True)]
    nodes = [NodeWithScore(node=TextNode(id_=i, text=t)) for i, t in zip(ids, texts, strict=True)]
    docs = [Document(id=i, page_content=t) for i, t in zip(ids, texts, strict=True)]

    exact = Reranker(model, device="cpu", max_length=512, precision="fp32").load()
    fast = Reranker(model, device="cpu", max_length=512, precision="bf16").load()
    llama = SentenceTransformerRerank(model=model, top_n=5, device="cpu")
    chain = CrossEncoderReranker(
        model=HuggingFaceCrossEncoder(model_name=model, model_kwargs={"device": "cpu"}), top_n=5
    )
    runs = {
        "LlamaIndex SentenceTransformerRerank": lambda: [
            n.node.node_id for n in llama.postprocess_nodes(nodes, query_str=QUERY)
        ],
        "LangChain CrossEncoderReranker": lambda: [
            d.id for d in chain.compress_documents(docs, QUERY)
        ],
        "crossrank exact (fp32)": lambda: [h.id for h in exact.rerank(QUERY, hits, top_n=5)],
        "crossrank fast (bf16)": lambda: [h.id for h in fast.rerank(QUERY, hits, top_n=5)],
        # Batches padded to their longest pair, as before crossrank.reranker.LENGTHS.
        "crossrank exact, unbucketed": lambda: unbucketed(exact),
        "crossrank fast, unbucketed": lambda: unbucketed(fast),
    }

    def unbucketed(reranker: Reranker) -> list[str]:
        saved, crossrank.reranker.LENGTHS = crossrank.reranker.LENGTHS, ()
        try:
            return [h.id for h in reranker.rerank(QUERY, hits, top_n=5)]
        finally:
            crossrank.reranker.LENGTHS = saved

    words = [len(t.split()) for t in texts]
    tokenizer = exact.model.tokenizer
    windows = [t[a:b] for t in texts for a, b in exact.windows(QUERY, t)]
    ours = [len(ids) for ids in tokenizer([QUERY] * len(windows), windows)["input_ids"]]
    peers = [min(512, len(ids)) for ids in tokenizer([QUERY] * len(texts), texts)["input_ids"]]
    print(
        f"{len(texts)} candidates, {min(words)}-{max(words)} words, max length 512, "
        f"median of {args.repeats} runs"
    )
    print(
        f"work: the peers score {len(peers)} pairs truncated to 512 tokens ({sum(peers):,} "
        f"tokens, {gflop(peers):.0f} GFLOP); crossrank scores every window of every candidate "
        f"({len(ours)} windows, {sum(ours):,} tokens, {gflop(ours):.0f} GFLOP)"
    )
    seconds, top5 = {}, {}
    for name, run in runs.items():
        seconds[name] = median_seconds(run, args.repeats)
        top5[name] = run()
    baseline = seconds["LlamaIndex SentenceTransformerRerank"]
    for name, took in seconds.items():
        work = gflop(ours if name.startswith("crossrank") else peers)
        print(
            f"{name:38s} {took:7.2f} s  {baseline / took:5.2f}x SentenceTransformerRerank's "
            f"speed  {work / took:5.0f} GFLOP/s"
        )

    reference = Reranker(model, device="cpu", max_length=512, precision="fp32", batch_size=1)
    truth = np.array(reference.score(QUERY, texts))
    for name, reranker in (("exact", exact), ("fast", fast)):
        found = np.array(reranker.score(QUERY, texts))
        same = "identical" if list(np.argsort(-found)) == list(np.argsort(-truth)) else "different"
        print(
            f"crossrank {name} vs unbatched fp32: max score difference "
            f"{np.abs(found - truth).max():.1e}, order {same}"
        )
    exact_top = top5["crossrank exact (fp32)"]
    for name, found in top5.items():
        if name != "crossrank exact (fp32)":
            order = "same order" if found == exact_top else "different order"
            print(
                f"top-5 vs crossrank exact, {name}: {len(set(found) & set(exact_top))}/5, {order}"
            )


def gflop(lengths: list[int], hidden: int = 384, ffn: int = 1536, layers: int = 6) -> float:
    """Forward-pass GFLOP of a BERT encoder on sequences of these lengths (MiniLM-L6 sizes)."""
    weights = 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn)  # per token
    attention = 4 * layers * hidden  # per token per token of its sequence
    return sum(n * weights + n * n * attention for n in lengths) / 1e9


if __name__ == "__main__":
    main()

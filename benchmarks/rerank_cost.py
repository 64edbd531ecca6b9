"""Rerank cost: crossrank vs LlamaIndex and LangChain rerankers on the same 100 candidates.

All three use the same MiniLM-L6-sized cross-encoder and max length 512. Prints the median
milliseconds per 100 candidates, the ratio of each peer to crossrank, and whether the top-5
ids agree. Usage: python benchmarks/rerank_cost.py [--candidates N] [--repeats R]
"""

from __future__ import annotations

import argparse

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

    from crossrank import Hit, Reranker

    model = benchmark_cross_encoder()
    texts = passages(args.candidates)
    ids = [f"p{i}" for i in range(len(texts))]
    hits = [Hit(i, t) for i, t in zip(ids, texts, strict=True)]
    nodes = [NodeWithScore(node=TextNode(id_=i, text=t)) for i, t in zip(ids, texts, strict=True)]
    docs = [Document(id=i, page_content=t) for i, t in zip(ids, texts, strict=True)]

    ours = Reranker(model, device="cpu", max_length=512).load()
    llama = SentenceTransformerRerank(model=model, top_n=5, device="cpu")
    chain = CrossEncoderReranker(
        model=HuggingFaceCrossEncoder(model_name=model, model_kwargs={"device": "cpu"}), top_n=5
    )
    runs = {
        "crossrank Reranker": lambda: [h.id for h in ours.rerank(QUERY, hits, top_n=5)],
        "LlamaIndex SentenceTransformerRerank": lambda: [
            n.node.node_id for n in llama.postprocess_nodes(nodes, query_str=QUERY)
        ],
        "LangChain CrossEncoderReranker": lambda: [
            d.id for d in chain.compress_documents(docs, QUERY)
        ],
    }
    words = [len(t.split()) for t in texts]
    budget = ours._passage_budget(QUERY)
    windows = sum(len(ours.windows(QUERY, t)) for t in texts)
    long = sum(len(ours.windows(QUERY, t)) > 1 for t in texts)
    print(
        f"{len(texts)} candidates, {min(words)}-{max(words)} words, max length 512, "
        f"median of {args.repeats} runs"
    )
    print(
        f"{long} candidates exceed the {budget} passage tokens that fit beside the query: "
        f"the peers score only their start; crossrank scores all of them ({windows} windows)"
    )
    baseline = None
    top5 = {}
    for name, run in runs.items():
        seconds = median_seconds(run, args.repeats)
        top5[name] = run()
        baseline = baseline or seconds
        print(f"{name:40s} {1000 * seconds:9.0f} ms   {seconds / baseline:5.2f}x crossrank's time")
    reference = top5["crossrank Reranker"]
    for name, found in top5.items():
        if found is not reference:
            same = len(set(found) & set(reference))
            order = "same order" if found == reference else "different order"
            print(f"top-5 agreement, crossrank vs {name}: {same}/5 ids, {order}")


if __name__ == "__main__":
    main()

"""A RAG question-answering app on LlamaIndex: crossrank retrieval + reranking, then an LLM.

Usage:
    python examples/llama_index_rag.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

Builds (or incrementally updates) a crossrank index of DIR (default: CPython's help topics)
and answers through a LlamaIndex ``RetrieverQueryEngine``. With ``OPENAI_API_KEY`` and/or
``OPENAI_BASE_URL`` set (any OpenAI-compatible endpoint; model from ``OPENAI_MODEL``; needs
``pip install llama-index-llms-openai-like``) it asks that LLM. Otherwise it runs offline and
prints the reranked context that would reach the LLM.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from llama_index.core.llms import LLM, MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever
from sample_corpus import write_corpus

from crossrank import Encoder, ModelNotFoundError, Reranker, Store

QUESTIONS = ["How do I leave a loop early?", "What does the assert statement do?"]


def make_llm() -> LLM | None:
    """An OpenAI-compatible LLM when the environment names one, else None (offline)."""
    if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        return None
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        api_base=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        api_key=os.environ.get("OPENAI_API_KEY", "none"),
        is_chat_model=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="*", default=QUESTIONS)
    parser.add_argument("--docs", type=Path)
    parser.add_argument("--db", default=".crossrank")
    parser.add_argument("--model", default=None, help="bi-encoder (default all-MiniLM-L6-v2)")
    parser.add_argument(
        "--reranker",
        default=os.environ.get("CROSSRANK_RERANKER", "cross-encoder/ms-marco-MiniLM-L-6-v2"),
    )
    args = parser.parse_args()
    docs = args.docs or Path(tempfile.mkdtemp()) / "python-help"
    if args.docs is None:
        write_corpus(docs)

    store = Store(args.db, "rag", Encoder(args.model) if args.model else None)
    report = store.index([docs])
    print(f"index: {report.files} files, {report.chunks} chunks ({report.embedded} new)")

    try:
        postprocessors = [CrossEncoderRerank(Reranker(args.reranker).load(), top_n=3)]
    except ModelNotFoundError as error:
        print(f"no reranking: {error}", file=sys.stderr)
        postprocessors = []

    llm = make_llm()
    engine = RetrieverQueryEngine.from_args(
        CrossRankRetriever(store, k=20 if postprocessors else 3),
        llm=llm or MockLLM(),  # MockLLM answers with the prompt it receives
        node_postprocessors=postprocessors,
    )
    for question in args.questions:
        response = engine.query(question)
        print(f"\n## {question}")
        for node in response.source_nodes:
            print(f"- score={node.score:.3f} {Path(node.node.metadata['source']).name}")
        if llm is None:
            print("(offline: no LLM configured) context that would reach the LLM:")
            for node in response.source_nodes:
                print(f"  > {' '.join(node.node.get_content().split())[:200]}")
        else:
            print(response.response)


if __name__ == "__main__":
    main()

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

import os

from llama_index.core.llms import LLM, MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever

from rag_setup import cite, setup


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
    questions, store, reranker = setup(__doc__.splitlines()[0])
    postprocessors = [CrossEncoderRerank(reranker, top_n=3)] if reranker else []

    llm = make_llm()
    engine = RetrieverQueryEngine.from_args(
        CrossRankRetriever(store, k=20 if postprocessors else 3),
        llm=llm or MockLLM(),  # MockLLM answers with the prompt it receives
        node_postprocessors=postprocessors,
    )
    for question in questions:
        response = engine.query(question)
        print(f"\n## {question}")
        for node in response.source_nodes:
            print(f"- score={node.score:.3f} {cite(node.node.metadata)}")
        if llm is None:
            print("(offline: no LLM configured) context that would reach the LLM:")
            for node in response.source_nodes:
                print(f"  > {' '.join(node.node.get_content().split())[:200]}")
        else:
            print(response.response)


if __name__ == "__main__":
    main()

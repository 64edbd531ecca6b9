"""A RAG question-answering app on LlamaIndex: crossrank retrieval + reranking, then an LLM.

Usage:
    python examples/llama_index_rag.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

Builds (or incrementally updates) a crossrank index of DIR (default: CPython's help topics)
and answers through a LlamaIndex ``RetrieverQueryEngine``. With ``OPENAI_API_KEY`` and/or
``OPENAI_BASE_URL`` set (any OpenAI-compatible endpoint; model from ``OPENAI_MODEL``; needs
``pip install llama-index-llms-openai-like``) it asks that LLM. Otherwise it runs offline and
prints the context that would reach the LLM. The context is ``CrossRankContext``: the
reranked chunks within a token budget, overlaps dropped, neighbours merged, each passage
numbered ``[n]`` with its source, so that the answer can cite them.
"""

from __future__ import annotations

import os

from llama_index.core import PromptTemplate
from llama_index.core.llms import LLM, MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.postprocessor.crossrank import CrossRankContext
from llama_index.retrievers.crossrank import CrossRankRetriever

from rag_setup import BUDGET, PROMPT, setup


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

    llm = make_llm()
    engine = RetrieverQueryEngine.from_args(
        # 20 reranked chunks; the context keeps what fits the budget.
        CrossRankRetriever(store, k=20, fetch_k=20, reranker=reranker),
        llm=llm or MockLLM(),  # MockLLM answers with the prompt it receives
        node_postprocessors=[CrossRankContext(budget=BUDGET, store=store)],
        text_qa_template=PromptTemplate(
            PROMPT, template_var_mappings={"context_str": "context", "query_str": "question"}
        ),
    )
    for question in questions:
        response = engine.query(question)
        print(f"\n## {question}")
        for node in response.source_nodes:
            meta = node.node.metadata
            print(f"[{meta['label']}] score={node.score:.3f} {meta['citation']}")
        if llm is None:  # MockLLM's answer is the prompt it received
            print("(offline: no LLM configured) prompt and context that would reach the LLM:")
            print(response.response)
        else:
            print(response.response)  # cites the passages as [n]


if __name__ == "__main__":
    main()

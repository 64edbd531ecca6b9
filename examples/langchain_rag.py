"""A RAG question-answering app as a LangChain LCEL chain: crossrank retrieval + reranking.

Usage:
    python examples/langchain_rag.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

``--docs`` may be a folder of PDFs (each hit then cites its page).

The same app as ``llama_index_rag.py``. With ``OPENAI_API_KEY`` and/or ``OPENAI_BASE_URL``
set (any OpenAI-compatible endpoint; model from ``OPENAI_MODEL``; needs
``pip install langchain-openai``) the chain asks that chat model. Otherwise it runs offline:
a fake chat model from ``langchain_core`` stands in, and the context that would reach the
LLM is printed. The context is ``CrossRankContext``: the reranked chunks within a token
budget, overlaps dropped, neighbours merged, each passage numbered ``[n]`` with its source,
so that the answer can cite them.
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableParallel, RunnablePassthrough

from langchain_crossrank import CrossRankContext, CrossRankRetriever

from rag_setup import BUDGET, PROMPT, setup

PROMPT_TEMPLATE = ChatPromptTemplate.from_template(PROMPT)


def make_llm() -> BaseChatModel | None:
    """An OpenAI-compatible chat model when the environment names one, else None (offline)."""
    if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))


def main() -> None:
    questions, store, reranker = setup(__doc__.splitlines()[0])
    # 20 reranked chunks; the context keeps what fits the budget.
    retriever = CrossRankRetriever(store=store, k=20, fetch_k=20, reranker=reranker)
    context = CrossRankContext(budget=BUDGET, store=store)

    llm = make_llm()
    answer_from_passages = (
        PROMPT_TEMPLATE | (llm or FakeListChatModel(responses=["(offline)"])) | StrOutputParser()
    )
    chain = (
        RunnableParallel(
            passages=retriever | context.transform_documents, question=RunnablePassthrough()
        )
        .assign(context=lambda x: "\n\n".join(p.page_content for p in x["passages"]))
        .assign(answer=answer_from_passages)
    )
    for question in questions:
        result = chain.invoke(question)
        print(f"\n## {question}")
        for passage in result["passages"]:
            meta = passage.metadata
            print(f"[{meta['label']}] score={meta['score']:.3f} {meta['citation']}")
        if llm is None:
            print("(offline: no LLM configured) prompt and context that would reach the LLM:")
            print(PROMPT_TEMPLATE.format(context=result["context"], question=question))
        else:
            print(result["answer"])  # cites the passages as [n]


if __name__ == "__main__":
    main()

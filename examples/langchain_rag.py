"""A RAG question-answering app as a LangChain LCEL chain: crossrank retrieval + reranking.

Usage:
    python examples/langchain_rag.py [QUESTION ...] [--docs DIR] [--db DIR]
        [--reranker NAME_OR_PATH] [--model NAME_OR_PATH]

``--docs`` may be a folder of PDFs (each hit then cites its page).

The same app as ``llama_index_rag.py``. With ``OPENAI_API_KEY`` and/or ``OPENAI_BASE_URL``
set (any OpenAI-compatible endpoint; model from ``OPENAI_MODEL``; needs
``pip install langchain-openai``) the chain asks that chat model. Otherwise it runs offline:
a fake chat model from ``langchain_core`` stands in, and the reranked context that would
reach the LLM is printed.
"""

from __future__ import annotations

import os

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableParallel, RunnablePassthrough

from langchain_crossrank import CrossRankRetriever

from rag_setup import cite, setup

PROMPT = ChatPromptTemplate.from_template(
    "Answer the question from the context only.\n\nContext:\n{context}\n\nQuestion: {question}"
)


def make_llm() -> BaseChatModel | None:
    """An OpenAI-compatible chat model when the environment names one, else None (offline)."""
    if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


def main() -> None:
    questions, store, reranker = setup(__doc__.splitlines()[0])
    retriever = CrossRankRetriever(store=store, k=3, fetch_k=20, reranker=reranker)

    llm = make_llm()
    answer_from_docs = (
        RunnablePassthrough.assign(context=lambda x: format_docs(x["docs"]))
        | PROMPT
        | (llm or FakeListChatModel(responses=["(offline)"]))
        | StrOutputParser()
    )
    chain = RunnableParallel(docs=retriever, question=RunnablePassthrough()).assign(
        answer=answer_from_docs
    )
    for question in questions:
        result = chain.invoke(question)
        print(f"\n## {question}")
        for doc in result["docs"]:
            score = doc.metadata.get("relevance_score", doc.metadata["retrieval_score"])
            print(f"- score={score:.3f} {cite(doc.metadata)}")
        if llm is None:
            print("(offline: no LLM configured) context that would reach the LLM:")
            for doc in result["docs"]:
                print(f"  > {' '.join(doc.page_content.split())[:200]}")
        else:
            print(result["answer"])


if __name__ == "__main__":
    main()

"""LangChain pointed at ``crossrank serve``: its own CohereRerank, and crossrank's adapters."""

from __future__ import annotations

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_cohere import CohereRerank
from langchain_core.documents import Document

from langchain_crossrank import CrossEncoderReranker, CrossRankRetriever

QUERY = "how do I leave a loop early"
TEXTS = [
    "The break statement leaves the innermost enclosing for or while loop.",
    "Assert statements insert debugging assertions into a program.",
    "Lambda expressions create anonymous functions.",
    "continue goes on with the next cycle of the nearest enclosing loop.",
]


def test_langchain_cohere_rerank_and_ours_agree_through_the_server(server_url, served_models):
    documents = [Document(page_content=text, metadata={"n": i}) for i, text in enumerate(TEXTS)]
    theirs = CohereRerank(
        base_url=server_url, cohere_api_key="unused", model="rerank-v3.5", top_n=3
    ).compress_documents(documents, QUERY)
    remote = CrossEncoderReranker(server=server_url, top_n=3).compress_documents(documents, QUERY)
    local = CrossEncoderReranker(model=served_models[0], top_n=3).compress_documents(
        documents, QUERY
    )
    assert [d.metadata["n"] for d in theirs] == [d.metadata["n"] for d in local]
    assert [d.metadata["n"] for d in remote] == [d.metadata["n"] for d in local]
    for a, b, c in zip(theirs, remote, local, strict=True):
        assert a.metadata["relevance_score"] == pytest.approx(
            c.metadata["relevance_score"], abs=1e-6
        )
        assert b.metadata["relevance_score"] == pytest.approx(
            c.metadata["relevance_score"], abs=1e-6
        )
    assert documents[0].metadata == {"n": 0}  # inputs untouched


def test_retriever_with_server_equals_the_local_one(server_url, served_models):
    reranker, store = served_models
    remote = CrossRankRetriever(server=server_url, k=4).invoke("break out of a loop")
    local = CrossRankRetriever(store=store, reranker=reranker, k=4).invoke("break out of a loop")
    assert [d.id for d in remote] == [d.id for d in local]
    for mine, theirs in zip(remote, local, strict=True):
        assert mine.metadata.keys() == theirs.metadata.keys()
        assert mine.metadata["relevance_score"] == pytest.approx(
            theirs.metadata["relevance_score"], abs=1e-6
        )
    with pytest.raises(ValueError, match="with server"):
        CrossRankRetriever(server=server_url, store=store)


async def test_a_chain_of_server_retriever_and_cohere_rerank(server_url, served_models):
    retriever = ContextualCompressionRetriever(
        base_compressor=CohereRerank(
            base_url=server_url, cohere_api_key="unused", model="rerank-v3.5", top_n=2
        ),
        base_retriever=CrossRankRetriever(server=server_url, k=6, retrieval="dense"),
    )
    documents = await retriever.ainvoke("what does the try statement do")
    assert len(documents) == 2
    scores = served_models[0].score(
        "what does the try statement do", [d.page_content for d in documents]
    )
    assert [d.metadata["relevance_score"] for d in documents] == pytest.approx(scores, abs=1e-6)

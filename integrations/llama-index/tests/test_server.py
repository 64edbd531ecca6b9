"""LlamaIndex pointed at ``crossrank serve``: its own CohereRerank, and crossrank's adapters."""

from __future__ import annotations

import pytest
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.cohere_rerank import CohereRerank
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever

QUERY = "how do I leave a loop early"
TEXTS = [
    "The break statement leaves the innermost enclosing for or while loop.",
    "Assert statements insert debugging assertions into a program.",
    "Lambda expressions create anonymous functions.",
    "continue goes on with the next cycle of the nearest enclosing loop.",
]


def test_llama_index_cohere_rerank_and_ours_agree_through_the_server(server_url, served_models):
    nodes = [NodeWithScore(node=TextNode(text=text, id_=str(i))) for i, text in enumerate(TEXTS)]
    bundle = QueryBundle(QUERY)
    theirs = CohereRerank(top_n=3, api_key="unused", base_url=server_url).postprocess_nodes(
        nodes, bundle
    )
    remote = CrossEncoderRerank(top_n=3, server=server_url).postprocess_nodes(nodes, bundle)
    local = CrossEncoderRerank(served_models[0], top_n=3).postprocess_nodes(nodes, bundle)
    assert [n.node.id_ for n in theirs] == [n.node.id_ for n in local]
    assert [n.node.id_ for n in remote] == [n.node.id_ for n in local]
    for a, b, c in zip(theirs, remote, local, strict=True):
        assert a.score == pytest.approx(c.score, abs=1e-6)
        assert b.score == pytest.approx(c.score, abs=1e-6)


def test_query_engine_with_a_server_retriever_and_cohere_rerank(server_url, served_models):
    engine = RetrieverQueryEngine.from_args(
        CrossRankRetriever(server=server_url, k=6),
        llm=MockLLM(),
        node_postprocessors=[CohereRerank(top_n=2, api_key="unused", base_url=server_url)],
    )
    response = engine.query("what does the try statement do")
    texts = [n.node.get_content() for n in response.source_nodes]
    assert len(texts) == 2
    scores = served_models[0].score("what does the try statement do", texts)
    assert [n.score for n in response.source_nodes] == pytest.approx(scores, abs=1e-6)
    assert texts[0] in str(response)  # MockLLM answers with the prompt it was given


def test_retriever_with_server_equals_the_local_one(server_url, served_models):
    reranker, store = served_models
    remote = CrossRankRetriever(server=server_url, k=4).retrieve("break out of a loop")
    local = CrossRankRetriever(store, reranker=reranker, k=4).retrieve("break out of a loop")
    assert [n.node.id_ for n in remote] == [n.node.id_ for n in local]
    assert [n.score for n in remote] == pytest.approx([n.score for n in local], abs=1e-6)
    with pytest.raises(ValueError, match="with server"):
        CrossRankRetriever(server=server_url, reranker=reranker)

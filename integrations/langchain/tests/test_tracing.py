"""What OpenInference's LangChain instrumentor (read by Phoenix) makes of the adapters."""

import json

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever

from langchain_crossrank import CrossEncoderReranker, CrossRankRetriever


@pytest.fixture
def spans(otel):
    from openinference.instrumentation.langchain import LangChainInstrumentor

    provider, exporter = otel
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter.get_finished_spans
    instrumentor.uninstrument()


def test_the_reranker_is_a_run_of_its_own_with_scores_in_metadata(
    spans, indexed_store, tiny_reranker_path
):
    retriever = ContextualCompressionRetriever(
        base_compressor=CrossEncoderReranker(model=tiny_reranker_path, top_n=2),
        base_retriever=CrossRankRetriever(store=indexed_store, k=6),
    )
    docs = retriever.invoke("What does assert do?")
    by_name = {span.name: span for span in spans()}
    outer, rerank_run = by_name["ContextualCompressionRetriever"], by_name["CrossEncoderReranker"]
    assert rerank_run.parent.span_id == outer.context.span_id
    base = by_name["CrossRankRetriever"]
    assert base.attributes["openinference.span.kind"] == "RETRIEVER"
    assert base.parent.span_id == outer.context.span_id
    # The run's output: the reranked documents with their per-stage scores in metadata.
    output = json.loads(rerank_run.attributes["output.value"])
    scores = [doc["metadata"]["relevance_score"] for doc in output]
    assert scores == [doc.metadata["relevance_score"] for doc in docs]
    assert all("retrieval_score" in doc.metadata for doc in docs)
    # crossrank's own span: the instrumentor does not make its runs' spans current, so it
    # starts a trace of its own.
    [core] = [s for s in spans() if s.name == "crossrank.rerank"]
    assert core.attributes["openinference.span.kind"] == "RERANKER"
    assert core.attributes["reranker.output_documents.1.document.score"] == scores[1]

"""What OpenInference's LlamaIndex instrumentor (read by Phoenix) makes of the adapters."""

import pytest
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever


@pytest.fixture
def spans(otel):
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    provider, exporter = otel
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter.get_finished_spans
    instrumentor.uninstrument()


def _scores(span, key: str) -> list[float]:
    found, i = [], 0
    while f"{key}.{i}.document.score" in span.attributes:
        found.append(span.attributes[f"{key}.{i}.document.score"])
        i += 1
    return found


def test_retriever_and_postprocessor_are_retriever_and_reranker_spans_with_scores(
    spans, indexed_store, tiny_reranker_path
):
    nodes = CrossRankRetriever(indexed_store, k=3, reranker=tiny_reranker_path).retrieve("assert")
    given = [NodeWithScore(node=TextNode(text=t), score=0.5) for t in ("a loop", "b", "assert x")]
    kept = CrossEncoderRerank(tiny_reranker_path, top_n=2).postprocess_nodes(
        given, query_str="assert"
    )
    by_name = {span.name: span for span in spans()}
    retriever = by_name["CrossRankRetriever.retrieve"]
    assert retriever.attributes["openinference.span.kind"] == "RETRIEVER"
    assert _scores(retriever, "retrieval.documents") == [n.score for n in nodes]
    reranker = by_name["CrossEncoderRerank._postprocess_nodes"]
    assert reranker.attributes["openinference.span.kind"] == "RERANKER"
    assert reranker.attributes["reranker.top_k"] == 2
    assert _scores(reranker, "reranker.output_documents") == [n.score for n in kept]
    # crossrank's own stages hang under the framework's spans, in the same trace.
    ids = {span.context.span_id: span for span in spans()}
    search = by_name["crossrank.search"]
    ancestors = []
    at = search.parent
    while at is not None and at.span_id in ids:
        ancestors.append(ids[at.span_id].name)
        at = ids[at.span_id].parent
    assert "CrossRankRetriever.retrieve" in ancestors
    [core_rerank] = [s for s in spans() if s.name == "crossrank.rerank"
                     and s.parent.span_id == reranker.context.span_id]  # fmt: skip
    assert _scores(core_rerank, "reranker.output_documents") == [n.score for n in kept]

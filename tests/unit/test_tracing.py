"""Spans of every stage, read back through the OpenTelemetry SDK's in-memory exporter."""

import json
from unittest import mock

import pytest

from crossrank import ContextBuilder, Pipeline, Reranker, tracing


@pytest.fixture
def spans(otel):
    """The spans finished since the last call, by name (a provider of the test's own)."""
    _, exporter = otel

    def finished() -> dict:
        """The spans finished since the last call, by name (the first of each name)."""
        found: dict = {}
        for span in exporter.get_finished_spans():
            found.setdefault(span.name.removeprefix("crossrank."), span)
        exporter.clear()
        return found

    return finished


def _documents(span, key: str) -> list[dict]:
    attributes, out = span.attributes, []
    while f"{key}.{len(out)}.document.id" in attributes or (
        f"{key}.{len(out)}.document.content" in attributes
    ):
        prefix = f"{key}.{len(out)}.document."
        out.append({k[len(prefix) :]: v for k, v in attributes.items() if k.startswith(prefix)})
    return out


def _parent(child, parent) -> bool:
    return child.parent is not None and child.parent.span_id == parent.context.span_id


def test_names_are_openinferences():
    from openinference.semconv.trace import (
        DocumentAttributes,
        EmbeddingAttributes,
        OpenInferenceSpanKindValues,
        RerankerAttributes,
        SpanAttributes,
    )

    assert tracing.SPAN_KIND == SpanAttributes.OPENINFERENCE_SPAN_KIND
    assert tracing.INPUT_VALUE == SpanAttributes.INPUT_VALUE
    assert tracing.OUTPUT_VALUE == SpanAttributes.OUTPUT_VALUE
    assert tracing.RETRIEVAL_DOCUMENTS == SpanAttributes.RETRIEVAL_DOCUMENTS
    assert tracing.EMBEDDING_MODEL_NAME == SpanAttributes.EMBEDDING_MODEL_NAME
    assert tracing.EMBEDDING_TEXT == EmbeddingAttributes.EMBEDDING_TEXT
    assert (tracing.RERANKER_QUERY, tracing.RERANKER_MODEL_NAME, tracing.RERANKER_TOP_K) == (
        RerankerAttributes.RERANKER_QUERY,
        RerankerAttributes.RERANKER_MODEL_NAME,
        RerankerAttributes.RERANKER_TOP_K,
    )
    assert tracing.RERANKER_INPUT_DOCUMENTS == RerankerAttributes.RERANKER_INPUT_DOCUMENTS
    assert tracing.RERANKER_OUTPUT_DOCUMENTS == RerankerAttributes.RERANKER_OUTPUT_DOCUMENTS
    assert (tracing.DOCUMENT_ID, tracing.DOCUMENT_SCORE, tracing.DOCUMENT_CONTENT) == (
        DocumentAttributes.DOCUMENT_ID,
        DocumentAttributes.DOCUMENT_SCORE,
        DocumentAttributes.DOCUMENT_CONTENT,
    )
    assert tracing.DOCUMENT_METADATA == DocumentAttributes.DOCUMENT_METADATA
    kinds = {tracing.CHAIN, tracing.RETRIEVER, tracing.RERANKER, tracing.EMBEDDING}
    assert kinds <= {kind.value for kind in OpenInferenceSpanKindValues}


def test_a_reranked_dense_search(spans, indexed_store, tiny_reranker_path):
    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32")
    pipeline = Pipeline(indexed_store, reranker, retrieval="dense", fetch_k=6, top_n=3)
    hits = pipeline.search("What does assert do?")
    found = spans()
    search, dense, embed, rerank = (found[n] for n in ("search", "dense", "embed_query", "rerank"))
    kinds = [s.attributes[tracing.SPAN_KIND] for s in (search, dense, embed, rerank)]
    assert kinds == ["CHAIN", "RETRIEVER", "EMBEDDING", "RERANKER"]
    assert search.parent is None and _parent(dense, search) and _parent(embed, dense)
    assert _parent(rerank, search)
    assert search.attributes["input.value"] == "What does assert do?"
    assert json.loads(search.attributes["output.value"]) == [
        {"id": hit.id, "score": hit.rerank_score} for hit in hits
    ]
    assert dense.attributes["gen_ai.operation.name"] == "retrieval"
    assert dense.attributes["gen_ai.retrieval.top_k"] == 6
    retrieved = _documents(dense, "retrieval.documents")
    assert len(retrieved) == 6 and all(d["score"] <= retrieved[0]["score"] for d in retrieved)
    assert retrieved[0]["content"] and json.loads(retrieved[0]["metadata"])["source"]
    assert embed.attributes["embedding.model_name"] == indexed_store.encoder.model_name
    assert rerank.attributes["reranker.query"] == "What does assert do?"
    assert rerank.attributes["reranker.model_name"] == tiny_reranker_path
    assert rerank.attributes["reranker.top_k"] == 3
    assert rerank.attributes["crossrank.reranker.pairs"] >= 6
    inputs = _documents(rerank, "reranker.input_documents")
    assert [d["id"] for d in inputs] == [d["id"] for d in retrieved]
    outputs = _documents(rerank, "reranker.output_documents")
    assert [(d["id"], d["score"]) for d in outputs] == [(h.id, h.rerank_score) for h in hits]


def test_hybrid_and_bm25(spans, indexed_store):
    Pipeline(indexed_store, retrieval="hybrid", fetch_k=5).search("lambda")
    found = spans()
    hybrid, dense, bm25 = found["hybrid"], found["dense"], found["bm25"]
    assert _parent(hybrid, found["search"]) and _parent(dense, hybrid) and _parent(bm25, hybrid)
    assert hybrid.attributes["crossrank.fusion"] == "convex"
    fused = _documents(hybrid, "retrieval.documents")
    words = _documents(bm25, "retrieval.documents")
    assert fused and words and "lambda" in words[0]["content"].lower()
    both = {d["id"] for d in words} | {d["id"] for d in _documents(dense, "retrieval.documents")}
    assert {d["id"] for d in fused} <= both

    Pipeline(indexed_store, retrieval="bm25", fetch_k=5).search("lambda")
    found = spans()
    assert _parent(found["bm25"], found["search"]) and {"dense", "hybrid"}.isdisjoint(found)

    Pipeline(indexed_store, retrieval="dense", fetch_k=5, mmr=0.5).search("lambda")
    found = spans()
    assert (
        _parent(found["mmr"], found["search"])
        and found["mmr"].attributes["crossrank.mmr.lambda"] == 0.5
    )
    assert len(_documents(found["mmr"], "retrieval.documents")) == 5


def test_context_and_indexing(spans, memory_store, sample_corpus):
    memory_store.index([sample_corpus], chunk_size=48, chunk_overlap=8)
    index = spans()["index"]
    assert index.attributes["crossrank.index.files"] == 8
    assert (
        index.attributes["crossrank.index.embedded"] == index.attributes["crossrank.index.chunks"]
    )
    hits = Pipeline(memory_store, retrieval="dense", fetch_k=10).search("try", top_n=10)
    context = ContextBuilder(budget=120).build([*hits, hits[0]])
    span = spans()["context"]
    assert span.attributes["crossrank.context.tokens"] == context.tokens <= 120
    assert span.attributes["crossrank.context.passages"] == len(context.passages)
    assert span.attributes["crossrank.context.dropped.duplicate"] == 1
    dropped = sum(v for k, v in span.attributes.items() if ".dropped." in k)
    assert len(context.passages) + dropped <= 11 and span.attributes["output.value"] == context.text


def test_privacy_switches(spans, indexed_store, tiny_reranker_path, monkeypatch):
    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32")
    monkeypatch.setenv("OPENINFERENCE_HIDE_INPUTS", "true")
    Pipeline(indexed_store, reranker, retrieval="dense", fetch_k=4).search("assert")
    found = spans()
    assert "input.value" not in found["search"].attributes
    assert "reranker.query" not in found["rerank"].attributes
    assert _documents(found["dense"], "retrieval.documents")[0]["content"]

    monkeypatch.setenv("CROSSRANK_TRACE_CONTENT", "false")
    Pipeline(indexed_store, reranker, retrieval="dense", fetch_k=4).search("assert")
    found = spans()
    documents = _documents(found["dense"], "retrieval.documents")
    assert documents and all("content" not in d and "id" in d for d in documents)
    assert "output.value" not in found["search"].attributes


def test_without_opentelemetry_a_search_is_the_same(indexed_store):
    expected = Pipeline(indexed_store, retrieval="hybrid").search("lambda")
    tracing._tracer.cache_clear()
    try:
        with mock.patch.dict("sys.modules", {"opentelemetry": None}):
            assert Pipeline(indexed_store, retrieval="hybrid").search("lambda") == expected
            with tracing.span("x") as current:
                assert not current.recording
    finally:
        tracing._tracer.cache_clear()


def test_many_documents_never_cost_a_span_its_kind_or_query(
    spans, indexed_store, tiny_reranker_path
):
    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32")
    Pipeline(indexed_store, reranker, retrieval="dense", fetch_k=40, top_n=40).search("assert")
    rerank = spans()["rerank"]
    assert len(rerank.attributes) == 128  # the SDK's default limit: the oldest were dropped
    assert rerank.attributes["openinference.span.kind"] == "RERANKER"
    assert rerank.attributes["reranker.query"] == "assert"
    assert rerank.attributes["crossrank.reranker.pairs"] >= 40
    assert "reranker.output_documents.39.document.id" in rerank.attributes

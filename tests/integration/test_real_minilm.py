"""The real bundled all-MiniLM-L6-v2 on real text (CPython's help topics)."""

import uuid
from pathlib import Path

import pytest

from crossrank import Encoder, Pipeline, Reranker, Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_store(sample_corpus: Path) -> Store:
    store = Store(collection=f"real{uuid.uuid4().hex[:8]}", in_memory=True)
    report = store.index([sample_corpus])
    assert report.files == 8 and report.chunks == store.count() > 8
    return store


@pytest.mark.parametrize(
    ("question", "topic", "within"),
    [
        ("How do I write an anonymous function?", "lambda", 1),
        ("How do I check a condition only while debugging?", "assert", 1),
        ("What happens when an exception is raised and not handled?", "try", 1),
        ("How do I leave a loop early?", "break", 3),
    ],
)
def test_the_answering_passage_is_retrieved(real_store: Store, question, topic, within):
    hits = real_store.search(question, k=within)
    assert topic in [Path(hit.metadata["source"]).stem for hit in hits]


def test_default_encoder_is_the_bundled_minilm():
    encoder = Encoder()
    assert encoder.dimension == 384 and encoder.max_length == 256
    vectors = encoder.embed(["a cat sat", "a cat sat", "stock markets fell"])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(vectors[0] @ vectors[2]) < 0.5


def test_pipeline_reranks_real_candidates(real_store: Store, tiny_reranker_path: str):
    hits = Pipeline(real_store, Reranker(tiny_reranker_path), fetch_k=20, top_n=4).search(
        "How do I leave a loop early?"
    )
    assert len(hits) == 4
    assert [h.rerank_score for h in hits] == sorted((h.rerank_score for h in hits), reverse=True)

import pytest

from crossrank import Pipeline, Reranker, RetrievalSettings, Store
from crossrank.hit import Chunk
from crossrank.ingest import chunk_id

TEXTS = [
    f"note {i}: {topic}"
    for i, topic in enumerate(
        [
            "rivers flow",
            "cats purr",
            "ships sail",
            "rain falls",
            "owls hoot",
            "bees buzz",
            "fire burns",
        ]
    )
]


@pytest.fixture
def filled(memory_store: Store) -> Store:
    memory_store.add(
        [Chunk(chunk_id("n.txt", i, t), t, "n.txt", i, 0, len(t)) for i, t in enumerate(TEXTS)]
    )
    return memory_store


def test_without_reranker_it_is_retrieval_order(filled: Store):
    hits = Pipeline(filled, top_n=3).search("cats purr")
    assert [h.id for h in hits] == [h.id for h in Pipeline(filled).retrieve("cats purr", 3)]
    assert all(h.rerank_score is None for h in hits)


def test_retrieve_then_rerank(filled: Store, tiny_reranker_path: str):
    reranker = Reranker(tiny_reranker_path)
    hits = Pipeline(filled, reranker, fetch_k=6, top_n=3, retrieval="dense").search("cats purr")
    candidates = filled.search("cats purr", k=6)
    expected = reranker.rerank("cats purr", candidates, top_n=3)
    assert [(h.id, h.rerank_score, h.retrieval_score) for h in hits] == [
        (h.id, h.rerank_score, h.retrieval_score) for h in expected
    ]
    assert len(hits) == 3 and all(type(h.rerank_score) is float for h in hits)


def test_filters_reach_the_store(filled: Store, tiny_reranker_path: str):
    pipeline = Pipeline(filled, Reranker(tiny_reranker_path), top_n=10)
    hits = pipeline.search("animals", where_document={"$contains": "ships"})
    assert [h.text for h in hits] == ["note 2: ships sail"]
    hits = pipeline.search("animals", where={"chunk_index": {"$in": [1, 4]}})
    assert sorted(h.text for h in hits) == ["note 1: cats purr", "note 4: owls hoot"]


def test_without_reranker_it_cuts_the_same_candidates(filled: Store):
    pipeline = Pipeline(filled, fetch_k=6, top_n=2, retrieval="hybrid")
    assert pipeline.search("cats purr") == pipeline.retrieve("cats purr", 6)[:2]
    assert len(pipeline.search("cats purr", top_n=4)) == 4  # per call, as the adapters do


def test_settings_object_or_fields(filled: Store):
    settings = RetrievalSettings(retrieval="bm25", fetch_k=4)
    assert Pipeline(filled, settings=settings).settings == settings
    assert Pipeline(filled, settings=settings, mmr=0.5).settings.mmr == 0.5
    assert Pipeline(filled, fusion="rrf").settings.fusion == "rrf"


def test_bad_settings_are_rejected(filled: Store):
    with pytest.raises(ValueError, match="fetch_k"):
        Pipeline(filled, fetch_k=0)
    with pytest.raises(ValueError, match="top_n"):
        Pipeline(filled, top_n=-1)
